"""Reads for content: referral counts, article readers, survey results."""

from django.db.models import Avg, Count, F, Q, Sum

from content.models import Article, ArticleView, SurveyInvitation
from patients.models import Patient
from wechat.models import ChannelCode, ChannelCodeKind


def referral_counts_by_patient(*, clinic):
    """Patients of `clinic` who referred at least one other patient (Patient.referred_by),
    with `referral_count`, most first."""
    return (
        Patient.objects.filter(clinic=clinic)
        .annotate(referral_count=Count("referrals", filter=Q(referrals__clinic=clinic)))
        .filter(referral_count__gt=0)
        .order_by("-referral_count", "pk")
    )


def referral_counts_by_doctor(*, clinic) -> list[dict]:
    """Referred patients per doctor, credited to the doctor of the referring patient
    (whose care earned the referral): [{"doctor_id", "referrals", "referrers"}], most first.
    Referrers without a doctor are under doctor_id None."""
    rows = (
        Patient.objects.filter(clinic=clinic, referred_by__isnull=False)
        .values(doctor_id=F("referred_by__assigned_doctor"))
        .annotate(referrals=Count("pk"), referrers=Count("referred_by", distinct=True))
        .order_by("-referrals", "doctor_id")
    )
    return list(rows)


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


def referral_count(*, patient) -> int:
    """How many patients `patient` referred (the same count as referral_counts_by_patient)."""
    row = referral_counts_by_patient(clinic=patient.clinic_id).filter(pk=patient.pk).first()
    return row.referral_count if row else 0


def referral_code_of(patient) -> ChannelCode | None:
    """The patient's referral code (one per patient), or None until it is made."""
    return ChannelCode.objects.filter(
        clinic_id=patient.clinic_id, kind=ChannelCodeKind.REFERRAL, referrer=patient
    ).first()
