"""Retention figures for the doctor's dashboard: one function per figure, each computed in
the database (aggregates and subqueries); Python only arranges the few aggregated rows.

Every function takes the clinic, the period as dates (inclusive, in the clinic's time zone,
Asia/Shanghai) and the same optional filters: `doctor` (the patient's assigned doctor),
`tag` (a PatientTag the patient carries) and `source` (the patient's source channel).
"""

from datetime import date, datetime, time, timedelta

from django.db.models import (
    Avg,
    Count,
    DateField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncMonth
from django.utils import timezone

from crm.models import Clinic
from patients.choices import JOURNEY, NOT_CONTACT_KINDS, Stage, TouchKind
from patients.dashboard.cohorts import cohort_table
from patients.dashboard.cohorts import rate as _rate
from patients.models import Patient, StageTransition, Touch, Visit


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The period as [start 00:00, end+1 00:00) in the current time zone (Asia/Shanghai)."""
    tz = timezone.get_current_timezone()
    lo = datetime.combine(start, time.min, tzinfo=tz)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    return lo, hi


def _patients(*, clinic, doctor=None, tag=None, source=None):
    patients = Patient.objects.filter(clinic=clinic)
    if doctor is not None:
        patients = patients.filter(assigned_doctor=doctor)
    if tag is not None:
        patients = patients.tagged_any([tag.pk])
    if source:
        patients = patients.filter(source=source)
    return patients


def _first_visit_date(patient_ref="pk"):
    return Subquery(
        Visit.objects.filter(patient=OuterRef(patient_ref))
        .order_by("visit_date")
        .values("visit_date")[:1],
        output_field=DateField(),
    )


def _revisit_cohort(*, clinic, start, end, window_days, **filters):
    """Patients whose first visit fell in the period, with `revisited`: another visit on a
    later day within `window_days` of the first."""
    window_end = ExpressionWrapper(
        OuterRef("first_visit") + timedelta(days=window_days), output_field=DateField()
    )
    later = Visit.objects.filter(
        patient=OuterRef("pk"),
        visit_date__gt=OuterRef("first_visit"),
        visit_date__lte=window_end,
    )
    return (
        _patients(clinic=clinic, **filters)
        .annotate(first_visit=_first_visit_date())
        .filter(first_visit__gte=start, first_visit__lte=end)
        .annotate(has_revisit=Exists(later))
    )


def revisit_cohort(*, clinic, start: date, end: date, window_days: int = 90, **filters):
    """The 复诊率 cohort (patients whose first visit fell in the period, `has_revisit`), for
    apps that narrow it by what patients cannot see (wechat: the channel code they came by)."""
    return _revisit_cohort(clinic=clinic, start=start, end=end, window_days=window_days, **filters)


def revisit_rate(
    *, clinic, start: date, end: date, window_days: int = 90, doctor=None, tag=None, source=None
) -> dict:
    """复诊率: of patients whose first visit fell in the period, the share with another
    visit (on a later day) within `window_days` of that first visit."""
    cohort = _revisit_cohort(
        clinic=clinic,
        start=start,
        end=end,
        window_days=window_days,
        doctor=doctor,
        tag=tag,
        source=source,
    )
    counts = cohort.aggregate(
        patients=Count("pk"), revisited=Count("pk", filter=Q(has_revisit=True))
    )
    return {**counts, "rate": _rate(counts["revisited"], counts["patients"])}


def churn(*, clinic, start: date, end: date, doctor=None, tag=None, source=None) -> dict:
    """流失: patients who churned in the period — moved to the churned stage, or deleted the
    clinic's WeCom contact (a churn_signal touch). A patient who did both counts once."""
    return churn_of(
        clinic=clinic,
        start=start,
        end=end,
        wanted=_wanted_or_none(clinic=clinic, doctor=doctor, tag=tag, source=source),
    )


def churn_of(*, clinic, start: date, end: date, wanted=None) -> dict:
    """The churn figure of the patients an event's `patient_id` must satisfy (`wanted`, a
    condition on the event; None: every patient)."""
    lo, hi = _bounds(start, end)
    to_churned = StageTransition.objects.filter(
        clinic=clinic, to_stage=Stage.CHURNED, at__gte=lo, at__lt=hi
    )
    deleted = Touch.objects.filter(
        clinic=clinic, kind=TouchKind.CHURN_SIGNAL, occurred_at__gte=lo, occurred_at__lt=hi
    )
    # Counted from the events' side: both are range scans of (clinic, kind, time) indexes,
    # and a filter looks up only the patients they name, never every patient of the clinic.
    if wanted is not None:
        to_churned, deleted = to_churned.filter(wanted), deleted.filter(wanted)
    both = to_churned.filter(patient_id__in=deleted.values("patient_id"))
    # One round trip: three scalar subqueries on the clinic's row.
    counts = (
        Clinic.objects.filter(pk=clinic.pk)
        .annotate(s=_distinct_patients(to_churned), w=_distinct_patients(deleted))
        .annotate(b=_distinct_patients(both))
        .values("s", "w", "b")
        .get()
    )
    by_stage, by_wecom = counts["s"] or 0, counts["w"] or 0
    return {
        "patients": by_stage + by_wecom - (counts["b"] or 0),
        "by_stage": by_stage,
        "deleted_wecom": by_wecom,
    }


def _distinct_patients(events):
    counted = events.order_by().values("clinic").annotate(n=Count("patient_id", distinct=True))
    return Subquery(counted.values("n"), output_field=IntegerField())


def _wanted(*, clinic, **filters):
    """An event's patient passes the filters (one primary-key lookup per event)."""
    return Exists(_patients(clinic=clinic, **filters).filter(pk=OuterRef("patient_id")))


def _wanted_or_none(*, clinic, doctor=None, tag=None, source=None):
    """_wanted, or None without a filter: unfiltered, the clinic is the filter, and a join
    with every patient of the clinic would cost more than all the events."""
    if doctor is None and tag is None and not source:
        return None
    return _wanted(clinic=clinic, doctor=doctor, tag=tag, source=source)


def at_risk(
    *,
    clinic,
    days: int = 90,
    today: date | None = None,
    limit: int = 20,
    doctor=None,
    tag=None,
    source=None,
) -> dict:
    """At risk: not churned, and neither a visit nor any contact in the last `days` days, or
    churned by deleting the clinic on WeCom (PatientQuerySet.at_risk). The list shows the
    longest-silent patients first."""
    today = today or timezone.localdate()
    patients = _patients(clinic=clinic, doctor=doctor, tag=tag, source=source).at_risk(
        days=days, today=today
    )
    last_touch = Subquery(
        Touch.objects.filter(patient=OuterRef("pk"))
        .exclude(kind__in=NOT_CONTACT_KINDS)
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    # Those who deleted the clinic on WeCom first (to win back now), then the longest silent.
    lost = Exists(Patient.objects.filter(pk=OuterRef("pk")).contact_lost())
    rows = (
        patients.annotate(last_touch_at=last_touch, lost=lost)
        .order_by(F("lost").desc(), F("last_touch_at").asc(nulls_first=True), "pk")
        .values("id", "name", "phone_masked", "stage", "last_visit_date", "last_touch_at")[:limit]
    )
    return {"days": days, "patients": patients.count(), "list": list(rows)}


def referral_rate(
    *, clinic, start: date, end: date, limit: int = 5, doctor=None, tag=None, source=None
) -> dict:
    """转介绍率: of patients created in the period, the share with a referrer; and the
    referrers who brought the most of them."""
    lo, hi = _bounds(start, end)
    new = _patients(clinic=clinic, doctor=doctor, tag=tag, source=source).filter(
        created_at__gte=lo, created_at__lt=hi
    )
    counts = new.aggregate(
        new_patients=Count("pk"), referred=Count("pk", filter=Q(referred_by__isnull=False))
    )
    top = (
        new.filter(referred_by__isnull=False)
        .values("referred_by", "referred_by__name")
        .annotate(referrals=Count("pk"))
        .order_by("-referrals", "referred_by__name")[:limit]
    )
    return {
        **counts,
        "rate": _rate(counts["referred"], counts["new_patients"]),
        "top_referrers": [
            {"id": r["referred_by"], "name": r["referred_by__name"], "referrals": r["referrals"]}
            for r in top
        ],
    }


def source_channels(
    *, clinic, start: date, end: date, window_days: int = 90, doctor=None, tag=None, source=None
) -> list[dict]:
    """来源渠道: new patients (created in the period) per source, and each source's revisit
    rate (the 复诊率 definition, restricted to that source's patients)."""
    lo, hi = _bounds(start, end)
    filters = {"doctor": doctor, "tag": tag, "source": source}
    new = (
        _patients(clinic=clinic, **filters)
        .filter(created_at__gte=lo, created_at__lt=hi)
        .values("source")
        .annotate(n=Count("pk"))
        .order_by()
    )
    revisits = (
        _revisit_cohort(clinic=clinic, start=start, end=end, window_days=window_days, **filters)
        .values("source")
        .annotate(first_visits=Count("pk"), revisited=Count("pk", filter=Q(has_revisit=True)))
        .order_by()
    )
    by_source: dict[str, dict] = {}
    for row in new:
        by_source.setdefault(row["source"], {"new_patients": 0, "first_visits": 0, "revisited": 0})
        by_source[row["source"]]["new_patients"] = row["n"]
    for row in revisits:
        entry = by_source.setdefault(
            row["source"], {"new_patients": 0, "first_visits": 0, "revisited": 0}
        )
        entry["first_visits"], entry["revisited"] = row["first_visits"], row["revisited"]
    result = [
        {"source": key, **value, "revisit_rate": _rate(value["revisited"], value["first_visits"])}
        for key, value in by_source.items()
    ]
    return sorted(result, key=lambda r: (-r["new_patients"], r["source"]))


def satisfaction(*, clinic, start: date, end: date, doctor=None, tag=None, source=None) -> dict:
    """满意度, from survey touches (the survey feature's contract): payload {"event": "sent"}
    when sent, {"event": "answered", "score": n, "scale": 5|10} when answered. Mean score on a
    5-point scale, and response rate = answered / sent, both within the period."""
    return satisfaction_of(
        clinic=clinic,
        start=start,
        end=end,
        wanted=_wanted_or_none(clinic=clinic, doctor=doctor, tag=tag, source=source),
    )


def satisfaction_of(*, clinic, start: date, end: date, wanted=None) -> dict:
    """The satisfaction figure of the patients a survey touch must satisfy (as churn_of)."""
    lo, hi = _bounds(start, end)
    surveys = Touch.objects.filter(
        clinic=clinic, kind=TouchKind.SURVEY, occurred_at__gte=lo, occurred_at__lt=hi
    )
    if wanted is not None:
        surveys = surveys.filter(wanted)
    # A score counts only if it is a JSON number within its scale's range: jsonb orders
    # strings below numbers and booleans/objects above them, so a bad payload never casts.
    valid = Q(payload__event="answered", payload__scale__in=[5, 10]) & Q(
        payload__score__gte=0, payload__score__lte=10
    )
    normalised = (
        Cast(KT("payload__score"), FloatField()) * 5.0 / Cast(KT("payload__scale"), FloatField())
    )
    counts = surveys.aggregate(
        sent=Count("pk", filter=Q(payload__event="sent")),
        answered=Count("pk", filter=Q(payload__event="answered")),
        mean_score=Avg(normalised, filter=valid),
    )
    if counts["mean_score"] is not None:
        counts["mean_score"] = round(counts["mean_score"], 2)
    return {**counts, "response_rate": _rate(counts["answered"], counts["sent"])}


def journey_funnel(*, clinic, start: date, end: date, doctor=None, tag=None, source=None) -> dict:
    """Journey funnel of the patients created in the period: how many are at each stage now,
    how many ever reached each stage (a StageTransition into it), and the conversion from
    each journey stage to the next: of those who reached stage k, the share who reached k+1."""
    lo, hi = _bounds(start, end)
    cohort = _patients(clinic=clinic, doctor=doctor, tag=tag, source=source).filter(
        created_at__gte=lo, created_at__lt=hi
    )
    reached = {
        f"has_{stage}": Exists(
            StageTransition.objects.filter(patient=OuterRef("pk"), to_stage=stage)
        )
        for stage in JOURNEY
    }
    aggregates = {f"now_{stage}": Count("pk", filter=Q(stage=stage)) for stage in Stage}
    aggregates |= {
        f"r_{stage}": Count("pk", filter=Q(**{f"has_{stage}": True})) for stage in JOURNEY
    }
    pairs = list(zip(JOURNEY, JOURNEY[1:], strict=False))
    aggregates |= {
        f"n_{a}": Count("pk", filter=Q(**{f"has_{a}": True, f"has_{b}": True})) for a, b in pairs
    }
    return funnel_rows(cohort.annotate(**reached).aggregate(**aggregates))


def funnel_rows(counts: dict) -> dict:
    """The funnel's rows from its counts: now_<stage>, r_<stage> (reached) and n_<stage>
    (reached it and the next)."""
    stages = []
    for stage in Stage:
        row = {"stage": stage.value, "label": str(stage.label), "now": counts[f"now_{stage}"]}
        if stage in JOURNEY:
            row["reached"] = counts[f"r_{stage}"]
            index = JOURNEY.index(stage)
            if index + 1 < len(JOURNEY):
                row["to_next"] = _rate(counts[f"n_{stage}"], counts[f"r_{stage}"])
        stages.append(row)
    return {"stages": stages}


def cohort_retention(
    *,
    clinic,
    start: date,
    end: date,
    today: date | None = None,
    doctor=None,
    tag=None,
    source=None,
) -> list[dict]:
    """Monthly cohorts by first-visit month (first visits in the period). For each month since
    (0 = the first month), the share of the cohort with a visit in that month; and lifetime
    value so far: visits and amount paid per patient of the cohort."""
    today = today or timezone.localdate()
    cohort = (
        _patients(clinic=clinic, doctor=doctor, tag=tag, source=source)
        .annotate(first_visit=_first_visit_date())
        .filter(first_visit__gte=start, first_visit__lte=end)
    )
    sizes = (
        cohort.annotate(month=TruncMonth("first_visit", output_field=DateField()))
        .values("month")
        .annotate(patients=Count("pk"))
        .order_by("month")
    )
    activity = (
        Visit.objects.filter(clinic=clinic, patient__in=cohort.values("pk"))
        .annotate(
            cohort=TruncMonth(_first_visit_date("patient_id"), output_field=DateField()),
            month=TruncMonth("visit_date", output_field=DateField()),
        )
        .values("cohort", "month")
        .annotate(
            patients=Count("patient_id", distinct=True), visits=Count("pk"), amount=Sum("amount")
        )
        .order_by()
    )
    return cohort_table(sizes, activity, today=today)
