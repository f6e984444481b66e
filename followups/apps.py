from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupsConfig(AppConfig):
    name = "followups"
    verbose_name = _("Follow-ups")

    def ready(self):
        from followups.selectors import patient_has_open_task
        from patients.querysets import patient_condition_register

        patient_condition_register("open_followups", patient_has_open_task)
