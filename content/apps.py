from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContentConfig(AppConfig):
    name = "content"
    verbose_name = _("Content")

    def ready(self):
        # A care plan's survey step sends the survey's tracked link (followups/step_links.py).
        from content import surveys
        from followups.models import Action
        from followups.step_links import step_link_register

        step_link_register(
            Action.SURVEY,
            validator=surveys.step_survey_clean,
            maker=surveys.step_survey_link,
            choices=surveys.step_survey_choices,
        )
