"""Reads for content: referral counts, article readers, survey results."""

from django.db.models import Avg, Count, F, Q, Sum

from content.models import (
    CHOICE_KINDS,
    Article,
    ArticleView,
    QuestionKind,
    SurveyAnswer,
    SurveyInvitation,
)
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


def survey_results(*, survey, patients=None, texts_limit=50) -> dict:
    """A survey's results per question, over the answers of `patients` (a queryset; None: all
    of the clinic's): each choice's count and share of the question's answers, a score
    question's mean and counts per score, a text question's newest texts; and the newest
    answered invitations with their score and what they asked about."""
    invitations = SurveyInvitation.objects.filter(survey=survey, answered_at__isnull=False)
    if patients is not None:
        invitations = invitations.filter(patient__in=patients)
    answers = SurveyAnswer.objects.filter(invitation__in=invitations)
    rows = []
    for question in survey.questions.order_by("position"):
        mine = answers.filter(question=question)
        row = {"question": question, "answered": mine.count()}
        if question.kind in CHOICE_KINDS:
            counts = {c["id"]: 0 for c in question.choices}
            for ids in mine.values_list("choice_ids", flat=True):
                for choice_id in ids or ():
                    if choice_id in counts:
                        counts[choice_id] += 1
            row["choices"] = [
                {
                    "id": c["id"],
                    "label": c["label"],
                    "count": counts[c["id"]],
                    "share": counts[c["id"]] / row["answered"] if row["answered"] else None,
                }
                for c in question.choices
            ]
        elif question.kind == QuestionKind.SCORE:
            row["mean"] = mine.aggregate(mean=Avg("score"))["mean"]
            by_score = dict(
                mine.values_list("score").annotate(n=Count("pk")).values_list("score", "n")
            )
            row["scores"] = [
                {"score": n, "count": by_score.get(n, 0)}
                for n in (range(1, 6) if survey.scale == 5 else range(0, 11))
            ]
        else:
            row["texts"] = list(
                mine.exclude(text="")
                .select_related("invitation__patient")
                .order_by("-invitation__answered_at", "-pk")
                .values("text", "invitation__patient__name", "invitation__answered_at")[
                    :texts_limit
                ]
            )
        rows.append(row)
    summary = invitations.aggregate(
        answered=Count("pk"), scored=Count("score"), mean_score=Avg("score")
    )
    recent = invitations.select_related(
        "patient", "visit", "appointment", "visit__doctor", "appointment__doctor"
    ).order_by("-answered_at", "-pk")[:100]
    return {"questions": rows, "summary": summary, "recent": list(recent)}


def referral_count(*, patient) -> int:
    """How many patients `patient` referred (the same count as referral_counts_by_patient)."""
    row = referral_counts_by_patient(clinic=patient.clinic_id).filter(pk=patient.pk).first()
    return row.referral_count if row else 0


def referral_code_of(patient) -> ChannelCode | None:
    """The patient's referral code (one per patient), or None until it is made."""
    return ChannelCode.objects.filter(
        clinic_id=patient.clinic_id, kind=ChannelCodeKind.REFERRAL, referrer=patient
    ).first()
