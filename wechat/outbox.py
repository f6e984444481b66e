"""The outbox: everything that leaves CareLoop is enqueued here and sent by one path.

cause ─ same transaction ─> Delivery(pending, unique key)
      └─ on commit / beat scan ─> claim (conditional update) ─> transport ─> WeCom
            └─ sent | failed (retry at, backoff) | dead | skipped | missed, + one DeliveryAttempt per try
"""

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Stage, TouchChannel, TouchKind
from patients.services import touch_record
from wechat import transport
from wechat.models import Delivery, DeliveryAttempt, DeliveryChannel, DeliveryStatus, RateBucket

logger = logging.getLogger(__name__)

PATIENT_CHANNELS = {DeliveryChannel.CUSTOMER_MESSAGE, DeliveryChannel.WELCOME}
# A claimed row whose worker has been silent this long is taken to be dead.
LEASE = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def delivery_enqueue(
    *,
    clinic,
    key: str,
    channel: str,
    recipient: str,
    body: str,
    patient=None,
    sender: str = "",
    payload: dict | None = None,
    send_at=None,
    expires_at=None,
) -> tuple[Delivery, bool]:
    """Put one message in the outbox, in the caller's transaction. The same key twice is
    a no-op that returns the existing row. It is sent after commit (or at `send_at`)."""
    if channel not in DeliveryChannel.values:
        raise ValidationError({"channel": [_("Unknown delivery channel.")]})
    if not (body or "").strip():
        raise ValidationError({"body": [_("The message is empty.")]})
    if not recipient:
        raise ValidationError({"recipient": [_("The message has no recipient.")]})
    now = timezone.now()
    delivery, created = Delivery.objects.get_or_create(
        clinic=clinic,
        idempotency_key=key,
        defaults={
            "channel": channel,
            "recipient": recipient,
            "sender": sender,
            "patient": patient,
            "body": body,
            "payload": payload or {},
            "next_attempt_at": send_at or now,
            "expires_at": expires_at,
        },
    )
    if created and delivery.next_attempt_at <= now:
        wake_sender(delivery.pk)
    return delivery, created


def wake_sender(delivery_id: int) -> None:
    """Ask a worker to send after commit. If the broker is down the beat scan sends it."""
    from wechat.tasks import delivery_send_task

    transaction.on_commit(lambda: delivery_send_task.delay(delivery_id), robust=True)


def delivery_send(delivery_id: int) -> str:
    """Claim one due delivery and try to send it. Safe to call twice: only one claim wins."""
    now = timezone.now()
    claimed = (
        Delivery.objects.due(now)
        .filter(pk=delivery_id)
        .update(status=DeliveryStatus.SENDING, claimed_at=now)
    )
    if not claimed:
        return "not-due"
    delivery = Delivery.objects.select_related("clinic", "patient").get(pk=delivery_id)
    if delivery.expires_at and now > delivery.expires_at:
        _finish(delivery, DeliveryStatus.MISSED, _("Too late to be useful; not sent."))
        return "missed"
    reason = _skip_reason(delivery)
    if reason:
        _finish(delivery, DeliveryStatus.SKIPPED, reason)
        return "skipped"
    account = getattr(delivery.clinic, "wecom_account", None)
    if account is None:
        _finish(delivery, DeliveryStatus.DEAD, _("WeCom is not configured for this clinic."))
        return "gave-up"
    if delivery.paced_until is None or now < delivery.paced_until:
        slot = _reserve_slot(delivery, account, now)
        if slot > now + timedelta(milliseconds=500):
            Delivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.PENDING,
                next_attempt_at=slot,
                paced_until=slot,
                claimed_at=None,
            )
            return "paced"
    return _attempt(delivery, account)


def _attempt(delivery: Delivery, account) -> str:
    # The attempt row is committed before the call: if this worker dies during the call,
    # the recovery scan sees an unfinished attempt and flags a possible duplicate.
    attempt = DeliveryAttempt.objects.create(delivery=delivery)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    started = time.monotonic()
    try:
        provider_id = _transmit(delivery, account)
    except transport.WeComError as exc:
        _attempt_done(attempt, started, ok=False, errcode=exc.errcode, error=str(exc))
        return _failed(delivery, exc)
    _attempt_done(attempt, started, ok=True)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SENT,
            sent_at=timezone.now(),
            provider_message_id=provider_id,
            last_error="",
            claimed_at=None,
            paced_until=None,
        )
        _record_on_timeline(delivery, DeliveryStatus.SENT)
    return "sent"


def _transmit(delivery: Delivery, account) -> str:
    if delivery.channel == DeliveryChannel.APP_MESSAGE:
        return transport.send_app_message(account, userid=delivery.recipient, text=delivery.body)
    if delivery.channel == DeliveryChannel.ROBOT:
        return transport.send_robot_message(account, text=delivery.body)
    if delivery.channel == DeliveryChannel.CUSTOMER_MESSAGE:
        return transport.add_msg_template(
            account,
            sender=delivery.sender,
            external_userids=[delivery.recipient],
            text=delivery.body,
        )
    transport.send_welcome_msg(
        account,
        welcome_code=delivery.payload["welcome_code"],
        text=delivery.body,
        link=delivery.payload.get("link"),
    )
    return ""


def _attempt_done(attempt, started, *, ok, errcode=None, error=""):
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(
        finished_at=timezone.now(),
        ok=ok,
        errcode=errcode,
        error=error[:2000],
        duration_ms=transport.elapsed_ms(started),
    )


def _failed(delivery: Delivery, exc: transport.WeComError) -> str:
    attempts = Delivery.objects.values_list("attempts", flat=True).get(pk=delivery.pk)
    if exc.expired:
        _finish(delivery, DeliveryStatus.MISSED, str(exc))
        return "missed"
    if exc.permanent or attempts >= settings.WECOM_MAX_ATTEMPTS:
        _finish(delivery, DeliveryStatus.DEAD, str(exc))
        return "gave-up"
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED,
        last_error=str(exc)[:2000],
        claimed_at=None,
        paced_until=None,
        next_attempt_at=timezone.now() + retry_delay(attempts),
    )
    return "retry"


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff from WECOM_RETRY_DELAYS, with ±20 % jitter so that a burst of
    rate-limited rows does not come back at the same instant."""
    delays = settings.WECOM_RETRY_DELAYS
    base = delays[min(attempts, len(delays)) - 1]
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def _finish(delivery: Delivery, status: str, reason: str) -> None:
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=status, last_error=reason[:2000], claimed_at=None
        )
        _record_on_timeline(delivery, status, reason)


def _skip_reason(delivery: Delivery) -> str:
    patient = delivery.patient
    if delivery.channel not in PATIENT_CHANNELS or patient is None:
        return ""
    patient.refresh_from_db(fields=["consent_to_contact", "stage"])
    if not patient.consent_to_contact:
        return _("The patient has not consented to be contacted.")
    if patient.stage == Stage.CHURNED:
        return _("The patient has churned.")
    return ""


def _record_on_timeline(delivery: Delivery, status: str, reason: str = "") -> None:
    if delivery.patient_id is None:
        return
    kind = TouchKind.WELCOME if delivery.channel == DeliveryChannel.WELCOME else TouchKind.MESSAGE
    summary = {
        DeliveryStatus.SENT: _("Sent on WeCom: %(body)s"),
        DeliveryStatus.SKIPPED: _("Not sent (%(reason)s): %(body)s"),
        DeliveryStatus.MISSED: _("Not sent (%(reason)s): %(body)s"),
        DeliveryStatus.DEAD: _("Sending failed (%(reason)s): %(body)s"),
    }[status] % {"body": delivery.body[:200], "reason": reason}
    touch_record(
        patient=delivery.patient,
        kind=kind,
        channel=TouchChannel.WECOM,
        summary=summary,
        payload={"delivery_id": delivery.pk, "status": status, "channel": delivery.channel},
    )


# Pacing ------------------------------------------------------------------------------

# WeCom's documented limits: (calls, per seconds). We pace at WECOM_PACING of each.
CORP_API_LIMIT = (10_000, 60)
MEMBER_LIMITS = ((30, 60), (1_000, 3600))  # app messages to one staff member: excess is dropped
ROBOT_LIMIT = (20, 60)


def _buckets(delivery: Delivery, account) -> list[tuple[str, float]]:
    """(bucket key, seconds between two sends) for every limit this send counts against."""
    pacing = settings.WECOM_PACING

    def interval(limit):
        calls, seconds = limit
        return seconds / (calls * pacing)

    corp = account.corp_id
    if delivery.channel == DeliveryChannel.APP_MESSAGE:
        member = max(interval(limit) for limit in MEMBER_LIMITS)
        return [
            (f"api:{corp}:message/send", interval(CORP_API_LIMIT)),
            (f"member:{corp}:{delivery.recipient}", member),
        ]
    if delivery.channel == DeliveryChannel.ROBOT:
        return [(f"robot:{corp}", interval(ROBOT_LIMIT))]
    api = (
        "add_msg_template"
        if delivery.channel == DeliveryChannel.CUSTOMER_MESSAGE
        else "send_welcome_msg"
    )
    return [(f"api:{corp}:{api}", interval(CORP_API_LIMIT))]


def _reserve_slot(delivery: Delivery, account, now):
    """Reserve the next free slot in each bucket; the send may go at the latest of them."""
    slot = now
    for key, seconds in _buckets(delivery, account):
        with transaction.atomic():
            bucket, _created = RateBucket.objects.select_for_update().get_or_create(
                key=key, defaults={"next_free_at": now}
            )
            start = max(bucket.next_free_at, now)
            bucket.next_free_at = start + timedelta(seconds=seconds)
            bucket.save(update_fields=["next_free_at"])
        slot = max(slot, start)
    return slot


# The scan ----------------------------------------------------------------------------


def deliveries_recover_stale(*, now=None) -> int:
    """Claimed rows whose worker died: put them back. If the worker died during the call
    (an unfinished attempt), WeCom may have accepted it: flag a possible duplicate."""
    now = now or timezone.now()
    recovered = 0
    for delivery in Delivery.objects.stale_sending(now - LEASE).only("pk")[:1000]:
        with transaction.atomic():
            row = (
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(pk=delivery.pk, status=DeliveryStatus.SENDING)
                .first()
            )
            if row is None:
                continue
            unfinished = row.attempt_rows.filter(finished_at__isnull=True)
            in_doubt = unfinished.exists()
            unfinished.update(finished_at=now, ok=False, error="worker lost during the call")
            row.status = DeliveryStatus.FAILED if in_doubt else DeliveryStatus.PENDING
            row.possible_duplicate = row.possible_duplicate or in_doubt
            row.claimed_at = None
            row.next_attempt_at = now
            row.save(
                update_fields=["status", "possible_duplicate", "claimed_at", "next_attempt_at"]
            )
            recovered += 1
    return recovered


def deliveries_due_ids(*, now=None, limit=2000) -> list[int]:
    return list(
        Delivery.objects.due(now).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )
