"""Small tasks taking ids; the work is in the services (outbox, callbacks, sync)."""

from celery import shared_task

from wechat import callbacks, outbox, sync
from wechat.models import WeComAccount


@shared_task(acks_late=True, ignore_result=True)
def delivery_send_task(delivery_id: int) -> str:
    return outbox.delivery_send(delivery_id)


@shared_task(ignore_result=True)
def deliveries_scan() -> int:
    """Beat: recover rows of dead workers, then wake a worker for every due row. The
    database says what is due; a lost broker message only delays a send until here."""
    outbox.deliveries_recover_stale()
    due = outbox.deliveries_due_ids()
    for delivery_id in due:
        delivery_send_task.delay(delivery_id)
    return len(due)


@shared_task(acks_late=True, ignore_result=True)
def callback_process_task(event_id: int) -> str:
    return callbacks.callback_event_process(event_id)


@shared_task(ignore_result=True)
def callbacks_scan() -> int:
    """Beat: stored callbacks that no worker processed (a lost broker message, a failure
    waiting for its retry) are processed here. Nothing received is lost."""
    due = callbacks.callback_events_due_ids()
    for event_id in due:
        callback_process_task.delay(event_id)
    return len(due)


@shared_task(acks_late=True, ignore_result=True)
def contacts_sync_task(account_id: int) -> str:
    account = WeComAccount.objects.select_related("clinic").filter(pk=account_id).first()
    if account is None:
        return "no-account"
    report = sync.contacts_sync(account=account)
    return f"created {report.patients_created}, linked {report.patients_linked}"


@shared_task(ignore_result=True)
def contacts_sync_all() -> int:
    """Beat: reconcile every clinic's WeCom contacts and tags (backfill, missed events)."""
    ids = list(WeComAccount.objects.values_list("pk", flat=True))
    for account_id in ids:
        contacts_sync_task.delay(account_id)
    return len(ids)
