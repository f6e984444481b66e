"""Counts for the dashboard's figures from the daily rollups (DailyFigure, CohortDay), which
serve every view without a doctor or tag filter: the clinic's own, and per channel. Each
function returns the same counts as the per-patient query it stands in for, in
patients.retention_summaries, which decides which one to call."""

from datetime import date

from django.db.models import DateField, Sum
from django.db.models.functions import TruncMonth

from patients.summary_models import CohortDay, DailyFigure

# The revisit window the rollups count (the dashboard's default); others read the facts.
ROLLUP_WINDOW = 90


def covers(*, doctor=None, tag=None, window_days: int = ROLLUP_WINDOW) -> bool:
    return doctor is None and tag is None and window_days == ROLLUP_WINDOW


def sums(*, clinic, start: date, end: date, measures, source=None) -> dict[str, int]:
    """measure -> total over the period's days."""
    rows = _rows(clinic=clinic, start=start, end=end, measures=measures, source=source)
    totals = dict.fromkeys(measures, 0)
    totals.update(
        rows.values("measure").annotate(total=Sum("value")).values_list("measure", "total")
    )
    return totals


def sums_by_source(*, clinic, start: date, end: date, measures, source=None) -> dict:
    """source -> measure -> total over the period's days."""
    rows = _rows(clinic=clinic, start=start, end=end, measures=measures, source=source)
    result: dict[str, dict[str, int]] = {}
    for row in rows.values("source", "measure").annotate(total=Sum("value")):
        result.setdefault(row["source"], dict.fromkeys(measures, 0))[row["measure"]] = row["total"]
    return result


def cohorts(*, clinic, start: date, end: date, source=None):
    """(sizes, activity) rows for patients.retention.cohort_table."""
    first = _rows(clinic=clinic, start=start, end=end, measures=["first"], source=source)
    sizes = (
        first.annotate(month=TruncMonth("day", output_field=DateField()))
        .values("month")
        .annotate(patients=Sum("value"))
        .order_by("month")
    )
    days = CohortDay.objects.filter(clinic=clinic, first_visit__gte=start, first_visit__lte=end)
    if source:
        days = days.filter(source=source)
    activity = (
        days.annotate(cohort=TruncMonth("first_visit", output_field=DateField()))
        .values("cohort", "month")
        .annotate(patients=Sum("patients"), visits=Sum("visits"), amount=Sum("amount"))
        .order_by()
    )
    return sizes, activity


def _rows(*, clinic, start, end, measures, source):
    rows = DailyFigure.objects.filter(
        clinic=clinic, day__gte=start, day__lte=end, measure__in=list(measures)
    ).order_by()
    return rows.filter(source=source) if source else rows
