"""The retention figures read from the summary tables (patients.dashboard.models): the same
functions, arguments and results as patients.dashboard.retention, whose definitions they follow, for a
clinic whose summaries have been refreshed. tests/test_retention.py checks both against the
same hand-worked figures.

Churn has no summary: its events (stage transitions into churned, churn signals) are few and
indexed by clinic, kind and time, so the live query in patients.dashboard.retention is already a range
scan; it is reused here, with a cheaper tag check. Satisfaction reads the rollups' survey
counts, and the live query with a doctor filter."""

from datetime import date, timedelta

from django.db.models import (
    Count,
    DateField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Sum,
    Window,
)
from django.db.models.functions import Rank, TruncMonth
from django.utils import timezone

from patients.choices import JOURNEY, Stage
from patients.dashboard import rollups
from patients.dashboard.models import CohortMonth, RetentionFact, SummaryRefresh
from patients.dashboard.retention import (
    _bounds,
    _rate,
    _wanted_or_none,
    churn_of,
    cohort_table,
    funnel_rows,
    satisfaction_of,
)
from patients.models import Patient, TaggedPatient

FIRSTS = ["first", "revisited_90"]
FUNNEL = [
    *(f"now_{stage}" for stage in Stage),
    *(f"reached_{stage}" for stage in JOURNEY),
    *(f"pair_{a}" for a in JOURNEY[:-1]),
]

__all__ = [
    "at_risk",
    "churn",
    "cohort_retention",
    "journey_funnel",
    "referral_rate",
    "revisit_rate",
    "satisfaction",
    "source_channels",
]


def refreshed_at(clinic):
    """When the clinic's summaries were last rebuilt, or None if they never were."""
    return (
        SummaryRefresh.objects.filter(clinic=clinic).values_list("refreshed_at", flat=True).first()
    )


def _carries(tag):
    """A row's `patient_id` carries `tag`: one probe of the (patient, tag) unique index."""
    return Exists(TaggedPatient.objects.filter(content_object_id=OuterRef("patient_id"), tag=tag))


def _filtered(rows, *, doctor=None, tag=None, source=None):
    if doctor is not None:
        rows = rows.filter(assigned_doctor=doctor)
    if tag is not None:
        rows = rows.filter(_carries(tag))
    if source:
        rows = rows.filter(source=source)
    return rows


def _facts(*, clinic, **filters):
    return _filtered(RetentionFact.objects.filter(clinic=clinic), **filters)


def _events_of(*, clinic, doctor=None, tag=None, source=None):
    """The condition on an event's patient_id for churn and satisfaction, whose events have
    no summary (see the module's docstring). A tag is looked up in the (patient, tag) unique
    index straight from the event: through the patient table it was a second lookup per
    event, for nothing (a tag belongs to one clinic's patients)."""
    wanted = _wanted_or_none(clinic=clinic, doctor=doctor, source=source)
    if tag is None:
        return wanted
    return _carries(tag) if wanted is None else wanted & _carries(tag)


def churn(*, clinic, start: date, end: date, doctor=None, tag=None, source=None) -> dict:
    wanted = _events_of(clinic=clinic, doctor=doctor, tag=tag, source=source)
    return churn_of(clinic=clinic, start=start, end=end, wanted=wanted)


SURVEYS = ["survey_sent", "survey_answered", "survey_scored", "survey_score_centi"]


def satisfaction(*, clinic, start: date, end: date, doctor=None, tag=None, source=None) -> dict:
    if not rollups.covers(doctor=doctor):
        wanted = _events_of(clinic=clinic, doctor=doctor, tag=tag, source=source)
        return satisfaction_of(clinic=clinic, start=start, end=end, wanted=wanted)
    # A year's answers are hundreds of thousands of JSON payloads at a million patients: the
    # rollups hold their counts and score sums per day.
    day = rollups.sums(
        clinic=clinic, start=start, end=end, measures=SURVEYS, tag=tag, source=source
    )
    scored = day["survey_scored"]
    return {
        "sent": day["survey_sent"],
        "answered": day["survey_answered"],
        "mean_score": round(day["survey_score_centi"] / 100 / scored, 2) if scored else None,
        "response_rate": _rate(day["survey_answered"], day["survey_sent"]),
    }


def _revisited(window_days: int) -> Q:
    window_end = ExpressionWrapper(
        F("first_visit") + timedelta(days=window_days), output_field=DateField()
    )
    return Q(second_visit__lte=window_end)


def revisit_rate(
    *, clinic, start: date, end: date, window_days: int = 90, doctor=None, tag=None, source=None
) -> dict:
    if rollups.covers(doctor=doctor, window_days=window_days):
        day = rollups.sums(
            clinic=clinic, start=start, end=end, measures=FIRSTS, tag=tag, source=source
        )
        counts = {"patients": day["first"], "revisited": day["revisited_90"]}
        return {**counts, "rate": _rate(counts["revisited"], counts["patients"])}
    counts = (
        _facts(clinic=clinic, doctor=doctor, tag=tag, source=source)
        .filter(first_visit__gte=start, first_visit__lte=end)
        .aggregate(patients=Count("*"), revisited=Count("patient", filter=_revisited(window_days)))
    )
    return {**counts, "rate": _rate(counts["revisited"], counts["patients"])}


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
    today = today or timezone.localdate()
    cutoff = today - timedelta(days=days)
    silent = (
        _facts(clinic=clinic, doctor=doctor, tag=tag, source=source)
        .exclude(stage=Stage.CHURNED)
        .filter(Q(last_active__isnull=True) | Q(last_active__lt=cutoff))
    )
    columns = {
        "id": F("patient_id"),
        "name": F("patient__name"),
        "phone_masked": F("patient__phone_masked"),
        "stage_now": F("patient__stage"),
        "last_visit_date": F("patient__last_visit_date"),
    }
    # Those who deleted the clinic on WeCom first (churned, so not in the facts' silent
    # set), then never contacted, then the longest silent: index scans in index order.
    lost = _facts(clinic=clinic, doctor=doctor, tag=tag, source=source).filter(
        patient__in=Patient.objects.filter(clinic=clinic).contact_lost().values("pk")
    )
    rows = list(lost.order_by("patient_id").values("last_touch_at", **columns)[:limit])
    never = silent.filter(last_touch_at__isnull=True).order_by("patient_id")
    rows += never.values("last_touch_at", **columns)[: limit - len(rows)]
    if len(rows) < limit:
        contacted = silent.filter(last_touch_at__isnull=False).order_by(
            "last_touch_at", "patient_id"
        )
        rows += contacted.values("last_touch_at", **columns)[: limit - len(rows)]
    listed = [
        {
            "id": r["id"],
            "name": r["name"],
            "phone_masked": r["phone_masked"],
            "stage": r["stage_now"],
            "last_visit_date": r["last_visit_date"],
            "last_touch_at": r["last_touch_at"],
        }
        for r in rows
    ]
    if rollups.covers(doctor=doctor):
        count = rollups.silent(clinic=clinic, cutoff=cutoff, tag=tag, source=source)
    else:
        count = silent.count()
    return {"days": days, "patients": count + lost.count(), "list": listed}


def referral_rate(
    *, clinic, start: date, end: date, limit: int = 5, doctor=None, tag=None, source=None
) -> dict:
    lo, hi = _bounds(start, end)
    new = _facts(clinic=clinic, doctor=doctor, tag=tag, source=source).filter(
        created_at__gte=lo, created_at__lt=hi
    )
    if rollups.covers(doctor=doctor):
        measures = ["created", "referred"]
        day = rollups.sums(
            clinic=clinic, start=start, end=end, measures=measures, tag=tag, source=source
        )
        counts = {"new_patients": day["created"], "referred": day["referred"]}
    else:
        counts = new.aggregate(
            new_patients=Count("*"),
            referred=Count("patient", filter=Q(referred_by__isnull=False)),
        )
    return {
        **counts,
        "rate": _rate(counts["referred"], counts["new_patients"]),
        "top_referrers": _top_referrers(new, limit),
    }


def _top_referrers(new, limit: int) -> list[dict]:
    """Referrers by referrals, then name. Grouping first and naming only the few that can
    make the list: joining names before grouping made PostgreSQL hash every patient."""
    grouped = (
        new.filter(referred_by__isnull=False)
        .values("referred_by")
        .annotate(referrals=Count("*"))
        .order_by()
    )
    # Everyone level with the last place may take it on name order: rank() gives ties the
    # same place, so place <= limit keeps them all, in one pass over the referred patients.
    place = Window(Rank(), order_by=F("referrals").desc())
    candidates = dict(
        grouped.annotate(place=place)
        .filter(place__lte=limit)
        .values_list("referred_by", "referrals")
    )
    if not candidates:
        return []
    names = dict(Patient.objects.filter(pk__in=candidates).values_list("pk", "name"))
    ranked = sorted(candidates, key=lambda pk: (-candidates[pk], names.get(pk, "")))
    return [{"id": pk, "name": names.get(pk), "referrals": candidates[pk]} for pk in ranked[:limit]]


def source_channels(
    *, clinic, start: date, end: date, window_days: int = 90, doctor=None, tag=None, source=None
) -> list[dict]:
    lo, hi = _bounds(start, end)
    facts = _facts(clinic=clinic, doctor=doctor, tag=tag, source=source)
    by_source: dict[str, dict] = {}

    def entry(key):
        return by_source.setdefault(key, {"new_patients": 0, "first_visits": 0, "revisited": 0})

    if rollups.covers(doctor=doctor, window_days=window_days):
        measures = ["created", *FIRSTS]
        rows = rollups.sums_by_source(
            clinic=clinic, start=start, end=end, measures=measures, tag=tag, source=source
        )
        for key, day in rows.items():
            entry(key).update(
                new_patients=day["created"],
                first_visits=day["first"],
                revisited=day["revisited_90"],
            )
        return _channel_rows(by_source)
    new = facts.filter(created_at__gte=lo, created_at__lt=hi).values("source")
    for row in new.annotate(n=Count("*")).order_by():
        entry(row["source"])["new_patients"] = row["n"]
    firsts = facts.filter(first_visit__gte=start, first_visit__lte=end).values("source")
    for row in firsts.annotate(
        first_visits=Count("*"), revisited=Count("patient", filter=_revisited(window_days))
    ).order_by():
        entry(row["source"]).update(first_visits=row["first_visits"], revisited=row["revisited"])
    return _channel_rows(by_source)


def _channel_rows(by_source: dict) -> list[dict]:
    result = [
        {"source": key, **value, "revisit_rate": _rate(value["revisited"], value["first_visits"])}
        for key, value in by_source.items()
        if value["new_patients"] or value["first_visits"]
    ]
    return sorted(result, key=lambda r: (-r["new_patients"], r["source"]))


def journey_funnel(*, clinic, start: date, end: date, doctor=None, tag=None, source=None) -> dict:
    if rollups.covers(doctor=doctor):
        day = rollups.sums(
            clinic=clinic, start=start, end=end, measures=FUNNEL, tag=tag, source=source
        )
        # The rollup's names to funnel_rows': reached_ -> r_, pair_ -> n_.
        counts = {
            name.replace("reached_", "r_").replace("pair_", "n_"): value
            for name, value in day.items()
        }
        return funnel_rows(counts)
    lo, hi = _bounds(start, end)
    cohort = _facts(clinic=clinic, doctor=doctor, tag=tag, source=source).filter(
        created_at__gte=lo, created_at__lt=hi
    )
    aggregates = {f"now_{stage}": Count("patient", filter=Q(stage=stage)) for stage in Stage}
    aggregates |= {
        f"r_{stage}": Count("patient", filter=Q(**{f"reached_{stage}": True})) for stage in JOURNEY
    }
    aggregates |= {
        f"n_{a}": Count("patient", filter=Q(**{f"reached_{a}": True, f"reached_{b}": True}))
        for a, b in zip(JOURNEY, JOURNEY[1:], strict=False)
    }
    return funnel_rows(cohort.aggregate(**aggregates))


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
    today = today or timezone.localdate()
    if rollups.covers(doctor=doctor):
        sizes, activity = rollups.cohorts(
            clinic=clinic, start=start, end=end, tag=tag, source=source
        )
        return cohort_table(sizes, activity, today=today)
    sizes = (
        _facts(clinic=clinic, doctor=doctor, tag=tag, source=source)
        .filter(first_visit__gte=start, first_visit__lte=end)
        .annotate(month=TruncMonth("first_visit", output_field=DateField()))
        .values("month")
        .annotate(patients=Count("*"))
        .order_by("month")
    )
    activity = (
        _filtered(CohortMonth.objects.filter(clinic=clinic), doctor=doctor, tag=tag, source=source)
        .filter(first_visit__gte=start, first_visit__lte=end)
        .values("cohort", "month")
        .annotate(patients=Count("*"), visits=Sum("visits"), amount=Sum("amount"))
        .order_by()
    )
    return cohort_table(sizes, activity, today=today)
