from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContentConfig(AppConfig):
    name = "content"
    verbose_name = _("Content")

    def ready(self):
        # A care plan's survey step sends the survey's tracked link (followups/step_links.py).
        from content import articles, surveys
        from followups.models import Action
        from followups.step_links import step_article_register, step_link_register

        step_link_register(
            Action.SURVEY,
            validator=surveys.step_survey_clean,
            maker=surveys.step_survey_link,
            choices=surveys.step_survey_choices,
        )
        # A message or re-exam step's article: the patient's tracked link to it.
        step_article_register(
            validator=articles.step_article_clean,
            maker=articles.step_article_link,
            choices=articles.step_article_choices,
        )
