"""The monthly cohort table's arithmetic, shared by the live figures (patients.dashboard.retention) and
the summary-backed ones (patients.dashboard.retention_summaries)."""

from datetime import date
from decimal import Decimal

CENT = Decimal("0.01")


def rate(part: int, whole: int) -> float | None:
    """part / whole to four places, or None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def cohort_table(sizes, activity, *, today: date) -> list[dict]:
    """The cohort rows from the cohort sizes (month, patients) and their activity (cohort,
    month, patients, visits, amount)."""
    cohorts = {
        row["month"]: {
            "month": row["month"],
            "patients": row["patients"],
            "retention": [0.0] * (_months_between(row["month"], today) + 1),
            "visits": 0,
            "amount": 0,
        }
        for row in sizes
    }
    for row in activity:
        entry = cohorts.get(row["cohort"])
        if entry is None:
            continue
        offset = _months_between(row["cohort"], row["month"])
        if 0 <= offset < len(entry["retention"]):
            entry["retention"][offset] = rate(row["patients"], entry["patients"])
        entry["visits"] += row["visits"]
        entry["amount"] += row["amount"] or 0
    result = []
    for entry in cohorts.values():
        size = entry["patients"]
        result.append(
            {
                **entry,
                "month": entry["month"].strftime("%Y-%m"),
                # Money as text with two places, the same on PostgreSQL and SQLite.
                "amount": str(Decimal(entry["amount"]).quantize(CENT)),
                "visits_per_patient": round(entry["visits"] / size, 2),
                "amount_per_patient": str((Decimal(entry["amount"]) / size).quantize(CENT)),
            }
        )
    return result
