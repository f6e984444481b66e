"""Small tasks taking ids; the work is in wechat.services."""

from celery import shared_task

from wechat import outbox as services


@shared_task(acks_late=True, ignore_result=True)
def delivery_send_task(delivery_id: int) -> str:
    return services.delivery_send(delivery_id)


@shared_task(ignore_result=True)
def deliveries_scan() -> int:
    """Beat: recover rows of dead workers, then wake a worker for every due row. The
    database says what is due; a lost broker message only delays a send until here."""
    services.deliveries_recover_stale()
    due = services.deliveries_due_ids()
    for delivery_id in due:
        delivery_send_task.delay(delivery_id)
    return len(due)
