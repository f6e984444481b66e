"""Worker jobs of the patients app: small, idempotent, taking ids."""

from celery import shared_task

from patients.import_commit import import_commit_run


@shared_task(ignore_result=True)
def import_commit_task(batch_id: int) -> str:
    return import_commit_run(batch_id)
