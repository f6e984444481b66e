from celery import shared_task

from crm.audit import audit_archive


@shared_task(acks_late=True)
def audit_archive_task() -> str:
    """Daily: audit events past their retention go to the archive folder (crm.audit)."""
    total = 0
    while True:
        count, _ = audit_archive()
        if not count:
            return f"archived {total}"
        total += count
