"""Counts for the dashboard's figures from the daily rollups (DailyFigure, CohortDay), which
serve every view without a doctor filter: the clinic's own, per channel and per tag. Each
function returns the same counts as the per-patient query it stands in for, in
patients.dashboard.retention_summaries, which decides which one to call."""

from datetime import date

from django.db.models import DateField, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth

from patients.dashboard.models import CohortDay, DailyFigure

# The revisit window the rollups count (the dashboard's default); others read the facts.
ROLLUP_WINDOW = 90


def covers(*, doctor=None, window_days: int = ROLLUP_WINDOW) -> bool:
    """The rollups are kept per channel and per tag, not per doctor: a doctor's patients are a
    small share of the clinic, which the facts serve fast enough (BENCHMARKS.md)."""
    return doctor is None and window_days == ROLLUP_WINDOW


def sums(*, clinic, start: date, end: date, measures, tag=None, source=None) -> dict[str, int]:
    """measure -> total over the period's days."""
    rows = _rows(clinic=clinic, start=start, end=end, tag=tag, source=source)
    return rows.aggregate(**{m: Coalesce(Sum(m), 0) for m in measures})


def sums_by_source(*, clinic, start: date, end: date, measures, tag=None, source=None) -> dict:
    """source -> measure -> total over the period's days."""
    rows = _rows(clinic=clinic, start=start, end=end, tag=tag, source=source)
    totals = rows.values("source").annotate(**{m: Sum(m) for m in measures})
    return {row.pop("source"): row for row in totals}


def silent(*, clinic, cutoff: date, tag=None, source=None) -> int:
    """Patients not churned whose last visit or touch was before `cutoff`, or who never had
    either: at risk, whatever the number of days asked for."""
    rows = _rows(clinic=clinic, start=date.min, end=date.max, tag=tag, source=source)
    totals = rows.aggregate(
        never=Coalesce(Sum("never_active"), 0),
        before=Coalesce(Sum("silent", filter=Q(day__lt=cutoff)), 0),
    )
    return totals["never"] + totals["before"]


def cohorts(*, clinic, start: date, end: date, tag=None, source=None):
    """(sizes, activity) rows for patients.dashboard.retention.cohort_table."""
    # Only days with first visits: a month of other counts alone is no cohort.
    first = _rows(clinic=clinic, start=start, end=end, tag=tag, source=source).filter(first__gt=0)
    sizes = (
        first.annotate(month=TruncMonth("day", output_field=DateField()))
        .values("month")
        .annotate(patients=Sum("first"))
        .order_by("month")
    )
    days = CohortDay.objects.filter(
        clinic=clinic, tag=tag, first_visit__gte=start, first_visit__lte=end
    )
    if source:
        days = days.filter(source=source)
    activity = (
        days.annotate(cohort=TruncMonth("first_visit", output_field=DateField()))
        .values("cohort", "month")
        .annotate(patients=Sum("patients"), visits=Sum("visits"), amount=Sum("amount"))
        .order_by()
    )
    return sizes, activity


def _rows(*, clinic, start, end, tag, source):
    # tag=None reads the clinic-wide rows (tag IS NULL), never every tag's.
    rows = DailyFigure.objects.filter(clinic=clinic, tag=tag, day__gte=start, day__lte=end)
    return (rows.filter(source=source) if source else rows).order_by()
