"""Worker jobs of the patients app: small, idempotent, taking ids. The dashboard's summary
tables are rebuilt one clinic per task, so a large clinic never holds up a small one and a
failure retries only its own; an import's commit runs here because it outlasts a request."""

from celery import shared_task

from patients.dashboard import summaries
from patients.imports.commit import import_commit_run, imports_recover_stale

# A full rebuild of a million-patient clinic takes about a minute on two busy cores (see
# BENCHMARKS.md, "Scale: dashboard"), and a 50,000-row import's commit about 90 s: the global
# 120 s limit would cut both close.
LONG_TIME_LIMIT = 900


@shared_task(
    acks_late=True,
    ignore_result=True,
    time_limit=LONG_TIME_LIMIT,
    soft_time_limit=LONG_TIME_LIMIT - 60,
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


@shared_task(ignore_result=True)
def summaries_maintain_task() -> str:
    """Beat: the summary tables' VACUUM and ANALYZE, once for every clinic's refreshes."""
    summaries.summaries_maintain()
    return "maintained"


@shared_task(ignore_result=True, time_limit=LONG_TIME_LIMIT, soft_time_limit=LONG_TIME_LIMIT - 60)
def import_commit_task(batch_id: int) -> str:
    return import_commit_run(batch_id)


@shared_task(ignore_result=True)
def imports_recover_stale_task() -> dict:
    """Beat: importing batches whose commit was lost (broker message or worker gone)."""
    return imports_recover_stale()
