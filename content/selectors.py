"""Reads for content: article readers, survey results."""

from django.db.models import Avg, Count, Q, Sum

from content.models import Article, ArticleView, SurveyInvitation


def article_stats(*, clinic):
    """Articles with `readers` (patients who opened a tracked link) and `opens` (every open)."""
    return (
        Article.objects.filter(clinic=clinic)
        .annotate(readers=Count("views"), opens=Sum("views__opens"))
        .order_by("-updated_at", "-id")
    )


def article_readers(*, article):
    return ArticleView.objects.filter(article=article).select_related("patient")


def survey_summary(*, survey) -> dict:
    invitations = SurveyInvitation.objects.filter(survey=survey)
    return invitations.aggregate(
        sent=Count("pk"),
        answered=Count("pk", filter=Q(answered_at__isnull=False)),
        average=Avg("score"),
    )
