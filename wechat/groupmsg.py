"""Customer messages as WeCom has them: a mass-message task (企业群发) of one staff member
for one or many customers, sent only when that member confirms it in their WeCom client.

- Handing it over (wechat.sending): one add_msg_template per customer message; its
  fail_list marks those customers at once; the sender gets an app message saying what to
  confirm. A call left in doubt by a dead worker is first looked for in WeCom
  (`task_find`): only a task WeCom does not have is created again.
- The results (`customer_results_poll`, beat, every minute): per task, whether the
  member sent it (get_groupmsg_task) and per customer what became of it
  (get_groupmsg_send_result); an unconfirmed task is reminded (remind_groupmsg_send,
  every WECOM_MASS_REMIND_AFTER, at most three times) and, after WECOM_MASS_CONFIRM_WITHIN,
  cancelled in WeCom, its customers "not confirmed".
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from patients.choices import TouchChannel, TouchKind
from patients.models import Touch
from patients.timeline import touch_build, worded
from wechat import transport
from wechat.composer import links_masked
from wechat.models import (
    WECOM_SEND_STATUS,
    Delivery,
    DeliveryChannel,
    DeliveryRecipient,
    DeliveryStatus,
    RecipientStatus,
)

logger = logging.getLogger(__name__)

# Before the first attempt and after now: WeCom's create_time is its own clock's second.
WINDOW_SLACK = timedelta(minutes=2)
NOTICE_SLOT_SECONDS = 600
REMINDS = 3  # WeCom allows three reminders a day per task
FINAL = [s for s in RecipientStatus.values if s != RecipientStatus.PENDING]


def is_group_message(delivery: Delivery) -> bool:
    """A customer message to customer groups (客户群群发): its recipient rows hold chat ids."""
    return (delivery.payload or {}).get("chat_type") == "group"


def _row_id(row: dict) -> str:
    """A send_result row's customer: an external_userid, or a group task's chat_id."""
    return row.get("external_userid") or row.get("chat_id") or ""


def customers_of(delivery: Delivery) -> list[str]:
    """The external_userids of one customer message, in the order they were enqueued. A
    message to one customer names it in `recipient` (no query); one to many says
    "customers:N" there and lists them in its recipient rows."""
    if not delivery.recipient.startswith("customers:"):
        return [delivery.recipient]
    userids = list(
        delivery.recipient_rows.exclude(status=RecipientStatus.EXCLUDED)
        .order_by("pk")
        .values_list("external_userid", flat=True)
    )
    return userids or [delivery.recipient]


def task_find(account, delivery: Delivery, userids: list[str]) -> tuple[str, list[str]] | None:
    """The task an earlier, unfinished attempt of `delivery` may have created: same text,
    same sender, customers among ours, created in the window of its attempts. Returns
    (msgid, fail_list) or None when WeCom has no such task."""
    first = delivery.attempt_rows.aggregate(at=Min("started_at"))["at"] or delivery.created_at
    start = int((first - WINDOW_SLACK).timestamp())
    end = int((timezone.now() + WINDOW_SLACK).timestamp())
    ours = set(userids)
    chat_type = "group" if is_group_message(delivery) else "single"
    for task in transport.groupmsg_list(account, start=start, end=end, chat_type=chat_type):
        if (task.get("text") or {}).get("content", "") != delivery.body:
            continue
        members = transport.groupmsg_task(account, msgid=task["msgid"])
        if delivery.sender not in {m.get("userid") for m in members}:
            continue
        theirs = {
            _row_id(row)
            for row in transport.groupmsg_send_result(
                account, msgid=task["msgid"], sender=delivery.sender
            )
        }
        if theirs <= ours and (theirs or len(ours) == 1):
            return task["msgid"], [uid for uid in userids if uid not in theirs]
    return None


def handed_over(deliveries: list[Delivery]) -> None:
    """In the transaction that records customer messages as handed to WeCom: their
    fail_list customers are marked, and each sender is told what to confirm."""
    from wechat.outbox import delivery_enqueue

    now = timezone.now()
    with translation.override(settings.LANGUAGE_CODE):
        for delivery in deliveries:
            failed = getattr(delivery, "fail_list", None) or []
            if failed:
                DeliveryRecipient.objects.filter(
                    delivery=delivery, external_userid__in=failed
                ).update(status=RecipientStatus.NOT_CONTACT, updated_at=now)
            total = getattr(delivery, "customer_count", None) or len(customers_of(delivery))
            count = total - len(failed)
            if not delivery.sender or count <= 0:
                continue
            notice = delivery.payload.get("notice")
            if notice:  # a campaign, a single message: say which
                key = f"confirm:{delivery.pk}"
                body = _(
                    "Please confirm a mass message in WeCom (客户联系 → 群发助手): "
                    "%(what)s, to %(n)s customers: “%(text)s”"
                ) % {"what": notice, "n": count, "text": links_masked(delivery.body)[:60]}
            else:  # reminders and the like: one notice per sender per slot, not per message
                slot = int(now.timestamp()) // NOTICE_SLOT_SECONDS
                key = f"confirm:{delivery.sender}:{slot}"
                body = _(
                    "You have customer messages (such as re-exam reminders) to confirm in "
                    "WeCom: open 客户联系 → 群发助手 and send them."
                )
            delivery_enqueue(
                clinic=delivery.clinic,
                key=key,
                channel=DeliveryChannel.APP_MESSAGE,
                recipient=delivery.sender,
                body=body,
                payload={"confirms_delivery": delivery.pk},
            )


def given_up(delivery: Delivery) -> None:
    """A customer message WeCom never took (dead, missed, skipped): its customers failed."""
    if delivery.channel == DeliveryChannel.CUSTOMER_MESSAGE:
        DeliveryRecipient.objects.filter(delivery=delivery, status=RecipientStatus.PENDING).update(
            status=RecipientStatus.FAILED, updated_at=timezone.now()
        )


# The results ---------------------------------------------------------------------------


def deliveries_awaiting_results(*, limit: int = 200) -> list[int]:
    """Customer messages handed to WeCom whose customers are not all final, oldest first."""
    waiting = DeliveryRecipient.objects.filter(status=RecipientStatus.PENDING).values("delivery_id")
    return list(
        Delivery.objects.filter(
            pk__in=waiting, channel=DeliveryChannel.CUSTOMER_MESSAGE, status=DeliveryStatus.SENT
        )
        .exclude(provider_message_id="")
        .order_by("sent_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def customer_results_poll(*, now=None, limit: int = 200) -> dict:
    """Ask WeCom what became of the customer messages still waiting. Safe to run twice or
    concurrently: each result is a status set on its row."""
    counts = {"final": 0, "waiting": 0, "reminded": 0, "expired": 0, "errors": 0}
    for delivery_id in deliveries_awaiting_results(limit=limit):
        try:
            outcome = customer_results_check(delivery_id=delivery_id, now=now)
        except transport.WeComError as exc:
            logger.warning("results of delivery %s: %s", delivery_id, exc)
            counts["errors"] += 1
            continue
        counts[outcome] += 1
    return counts


def customer_results_check(*, delivery_id: int, now=None) -> str:
    now = now or timezone.now()
    delivery = Delivery.objects.select_related("clinic__wecom_account").get(pk=delivery_id)
    account = delivery.clinic.wecom_account
    msgid = delivery.provider_message_id
    members = transport.groupmsg_task(account, msgid=msgid)
    sent = any(m.get("userid") == delivery.sender and m.get("status") == 2 for m in members)
    if sent:
        results = {}
        for row in transport.groupmsg_send_result(account, msgid=msgid, sender=delivery.sender):
            results[_row_id(row)] = WECOM_SEND_STATUS.get(
                int(row.get("status", 0)), RecipientStatus.UNCONFIRMED
            )
        _results_record(delivery, results, default=RecipientStatus.UNCONFIRMED, now=now)
        return "final"
    age = now - (delivery.sent_at or delivery.created_at)
    if age >= timedelta(seconds=settings.WECOM_MASS_CONFIRM_WITHIN):
        try:
            transport.groupmsg_cancel(account, msgid=msgid)
        except transport.WeComError as exc:
            if not exc.permanent:
                raise
        _results_record(delivery, {}, default=RecipientStatus.UNCONFIRMED, now=now)
        return "expired"
    reminded = list(delivery.payload.get("reminded") or [])
    last = reminded[-1] if reminded else (delivery.sent_at or delivery.created_at).isoformat()
    due = datetime.fromisoformat(last) + timedelta(seconds=settings.WECOM_MASS_REMIND_AFTER)
    if len(reminded) < REMINDS and now >= due:
        transport.groupmsg_remind(account, msgid=msgid)
        delivery.payload["reminded"] = [*reminded, now.isoformat()]
        Delivery.objects.filter(pk=delivery.pk).update(payload=delivery.payload)
        return "reminded"
    return "waiting"


@transaction.atomic
def _results_record(delivery: Delivery, results: dict, *, default: str, now) -> None:
    """Set each waiting customer's result (those WeCom did not list get `default`) and
    write it on their patients' timelines."""
    rows = list(
        DeliveryRecipient.objects.select_for_update()
        .filter(delivery=delivery, status=RecipientStatus.PENDING)
        .only("pk", "external_userid", "patient_id")
    )
    touches, by_status = [], {}
    with translation.override(settings.LANGUAGE_CODE):
        for row in rows:
            row.status = results.get(row.external_userid, default)
            by_status.setdefault(row.status, []).append(row.pk)
            if row.patient_id is not None:
                touches.append(_touch(delivery, row))
    for status, pks in by_status.items():  # one UPDATE per result, not a CASE per row
        DeliveryRecipient.objects.filter(pk__in=pks).update(status=status, updated_at=now)
    Touch.objects.bulk_create(touches, batch_size=1000)


def _touch(delivery: Delivery, row: DeliveryRecipient) -> Touch:
    label = RecipientStatus(row.status).label
    return touch_build(
        clinic_id=delivery.clinic_id,
        patient_id=row.patient_id,
        kind=TouchKind.MESSAGE,
        channel=TouchChannel.WECOM,
        summary=worded(
            gettext_noop("WeCom mass message: %(result)s: %(body)s"),
            result=label,
            body=links_masked(delivery.body)[:200],
        ),
        payload={"delivery_id": delivery.pk, "event": "customer_result", "status": row.status},
    )
