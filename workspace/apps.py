from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkspaceConfig(AppConfig):
    """The pages that compose the apps (the workbench, the patient page): the top layer."""

    name = "workspace"
    verbose_name = _("Workspace")
