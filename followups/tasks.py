"""Beat jobs: small, idempotent, calling services. Future work stays in PostgreSQL (due_at,
send_at), never as ETA tasks in the broker."""

from celery import shared_task

from followups import services


@shared_task(ignore_result=True)
def followups_due_scan() -> dict:
    return services.due_scan()


@shared_task(ignore_result=True)
def reminder_results_poll() -> dict:
    return services.reminder_results_poll()
