from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Clinics and staff")

    def ready(self):
        from crm import signin  # noqa: F401  the sign-in audit's signal receivers
