"""content's part of a patient merge (patients/merge.py, setting PATIENT_MERGE_MOVERS): the
duplicate's article reads, campaign rows and survey invitations move to the survivor."""

from django.db.models import F
from django.utils.translation import gettext_lazy as _

from content.models import ArticleView, CampaignRecipient, SurveyInvitation

LABELS = {
    "article_views": _("Articles read"),
    "campaign_rows": _("Campaign rows"),
    "survey_invitations": _("Survey invitations"),
}


def merge_counts(patient) -> dict:
    return {
        LABELS["article_views"]: ArticleView.objects.filter(patient=patient).count(),
        LABELS["campaign_rows"]: CampaignRecipient.objects.filter(patient=patient).count(),
        LABELS["survey_invitations"]: SurveyInvitation.objects.filter(patient=patient).count(),
    }


def merge_move(*, survivor, duplicate) -> dict[str, int]:
    views = ArticleView.objects.filter(patient=duplicate)
    # One row per patient and article: the survivor's counts the duplicate's opens too.
    for view in views.filter(article__views__patient=survivor):
        ArticleView.objects.filter(patient=survivor, article_id=view.article_id).update(
            opens=F("opens") + view.opens
        )
        view.delete()
    # A campaign reaches a patient once: a row the survivor has already stays with the
    # closed record (it is the campaign's history).
    survivor_campaigns = CampaignRecipient.objects.filter(patient=survivor).values("campaign_id")
    rows = CampaignRecipient.objects.filter(patient=duplicate).exclude(
        campaign_id__in=survivor_campaigns
    )
    return {
        "article_views": views.update(patient=survivor),
        "campaign_rows": rows.update(patient=survivor),
        "survey_invitations": SurveyInvitation.objects.filter(patient=duplicate).update(
            patient=survivor
        ),
    }
