"""Small tasks taking ids; the work is in the services (outbox, callbacks, sync)."""

import logging
import time

from celery import shared_task

from wechat import callbacks, outbox, sync, tag_push, transport
from wechat.models import WeComAccount

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def delivery_send_task(delivery_id: int) -> str:
    return outbox.delivery_send(delivery_id)


# A draining task stops after this long (well inside the task time limits) and waits at
# most DRAIN_IDLE for a paced row's slot before it leaves the rest to the next wake-up.
DRAIN_SECONDS = 60
DRAIN_IDLE = 5.0


@shared_task(acks_late=True, ignore_result=True)
def deliveries_send_due_task() -> int:
    """Send due rows a block at a time until none is due (or DRAIN_SECONDS). Takes no id:
    it claims what is due, so any number of these may run at once, and a second one
    for the same rows finds them claimed."""
    deadline = time.monotonic() + DRAIN_SECONDS
    sent = 0
    while time.monotonic() < deadline:
        results = outbox.deliveries_send_due()
        sent += sum(1 for outcome in results.values() if outcome == "sent")
        if results:
            continue
        wait = outbox.deliveries_next_due_in()
        if wait is None or wait > DRAIN_IDLE:
            break
        time.sleep(max(wait, 0.01))
    return sent


@shared_task(ignore_result=True)
def deliveries_scan() -> int:
    """Beat: recover rows of dead workers, then wake draining workers for the due rows.
    The database says what is due; a lost broker message only delays a send until here."""
    outbox.deliveries_recover_stale()
    due = outbox.deliveries_due_ids()
    for _n in range(min(-(-len(due) // outbox.SEND_BATCH), outbox.WAKE_MAX)):
        deliveries_send_due_task.delay()
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


@shared_task(ignore_result=True)
def customer_results_poll() -> dict:
    """What became of the customer messages WeCom has (wechat.groupmsg)."""
    from wechat.groupmsg import customer_results_poll as poll

    return poll()


@shared_task(acks_late=True, ignore_result=True)
def tag_removals_push_task() -> dict:
    """Beat: tags removed from patients in CareLoop, removed in WeCom too."""
    return tag_push.tag_removals_push()


@shared_task(ignore_result=True)
def corp_tags_sync_all() -> int:
    """Beat: every clinic's corp tags both ways (additions, renames, deletions)."""
    count = 0
    for account in WeComAccount.objects.select_related("clinic"):
        try:
            sync.corp_tags_sync(account=account, push=True)
            count += 1
        except transport.WeComError:
            logger.warning("corp tag sync failed for %s", account.clinic_id, exc_info=True)
    return count


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(transport.WeComError,),
    retry_backoff=60,
    max_retries=5,
)
def transfers_request_task(
    account_id: int,
    batch: str,
    handover_userid: str,
    takeover_userid: str,
    resigned: bool,
    message: str = "",
    actor_id: int | None = None,
) -> dict:
    """A handover's WeCom side (wechat.transfers): safe to retry, the batch skips the
    patients already asked for."""
    from django.contrib.auth import get_user_model

    from wechat import transfers

    account = WeComAccount.objects.select_related("clinic").filter(pk=account_id).first()
    if account is None:
        return {}
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return transfers.transfers_request(
        account=account,
        batch=batch,
        handover_userid=handover_userid,
        takeover_userid=takeover_userid,
        resigned=resigned,
        message=message,
        actor=actor,
    )


@shared_task(ignore_result=True)
def transfers_poll_task() -> dict:
    """Beat: WeCom's results of the waiting customer transfers."""
    from wechat import transfers

    return transfers.transfers_poll()


@shared_task(acks_late=True, ignore_result=True)
def groupchats_sync_task(account_id: int) -> str:
    """The clinic's customer groups and their members, from WeCom (wechat.groupchats)."""
    from wechat import groupchats

    account = WeComAccount.objects.select_related("clinic").filter(pk=account_id).first()
    if account is None:
        return "no-account"
    report = groupchats.groupchats_sync(account=account)
    return f"groups {report.groups}, joined {report.joined}, left {report.left}"


@shared_task(acks_late=True, ignore_result=True)
def directory_sync_task(account_id: int) -> str:
    """The corp's WeCom directory (wechat.directory)."""
    from wechat import directory

    account = WeComAccount.objects.select_related("clinic").filter(pk=account_id).first()
    if account is None:
        return "no-account"
    report = directory.directory_sync(account=account)
    return f"seen {report.seen}, gone {report.gone}"
