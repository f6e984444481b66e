"""Beat jobs for patients: rebuild the retention dashboard's summary tables, one clinic per
task so a large clinic never holds up a small one and a failure retries only its own."""

from celery import shared_task

from patients import summaries

# A full rebuild of a million-patient clinic takes about a minute on two busy cores (see
# BENCHMARKS.md, "Scale: dashboard"); the global 120 s limit would cut it close.
REFRESH_TIME_LIMIT = 900


@shared_task(
    acks_late=True,
    ignore_result=True,
    time_limit=REFRESH_TIME_LIMIT,
    soft_time_limit=REFRESH_TIME_LIMIT - 60,
)
def summaries_refresh_task(clinic_id: int) -> str:
    report = summaries.summaries_refresh(clinic_id=clinic_id)
    if "skipped" in report:
        return f"skipped ({report['skipped']})"
    return f"{report['patients']} patients in {report['ms']} ms"


@shared_task(ignore_result=True)
def summaries_refresh_all() -> int:
    """Beat: a refresh task per clinic with patients. Rebuilding is idempotent, so a run that
    overlaps the previous one only waits on its lock and rebuilds again."""
    clinic_ids = summaries.clinics_with_patients()
    for clinic_id in clinic_ids:
        summaries_refresh_task.delay(clinic_id)
    return len(clinic_ids)
