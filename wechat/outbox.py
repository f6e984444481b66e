"""The outbox: everything that leaves CareLoop is enqueued here and sent by one path.

cause ─ same transaction ─> Delivery(pending, unique key)      (one, or many in one INSERT)
      └─ on commit (a wake-up per row, or per batch) / beat scan
            ─> claim a block (SKIP LOCKED), pacing slots, attempt rows (wechat.sending)
            ─> transport ─> WeCom, each at its slot
            └─ sent | failed (retry at, backoff) | dead | skipped | missed, + one DeliveryAttempt per try
"""

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wechat import sending
from wechat.models import Delivery, DeliveryChannel, DeliveryRecipient, DeliveryStatus

logger = logging.getLogger(__name__)

# A claimed row whose worker has been silent this long is taken to be dead.
LEASE = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def _check(channel: str, body: str, recipient: str) -> None:
    if channel not in DeliveryChannel.values:
        raise ValidationError({"channel": [_("Unknown delivery channel.")]})
    if not (body or "").strip():
        raise ValidationError({"body": [_("The message is empty.")]})
    if not recipient:
        raise ValidationError({"recipient": [_("The message has no recipient.")]})


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
    customers: list[tuple[int | None, str]] | None = None,
) -> tuple[Delivery, bool]:
    """Put one message in the outbox, in the caller's transaction. The same key twice is
    a no-op that returns the existing row. It is sent after commit (or at `send_at`).

    A customer message is one WeCom mass-message task of `sender`: to `recipient` (an
    external_userid, with `patient`), or to `customers`, a list of (patient id,
    external_userid) — at most 10,000, one task —, with `recipient` left to describe them."""
    if channel == DeliveryChannel.CUSTOMER_MESSAGE and customers:
        recipient = recipient or f"customers:{len(customers)}"
    _check(channel, body, recipient)
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
    if created and channel == DeliveryChannel.CUSTOMER_MESSAGE:
        customers = customers or [(getattr(patient, "pk", None), recipient)]
        _customers_create([(delivery.pk, clinic.pk, p, uid) for p, uid in customers])
    if created and delivery.next_attempt_at <= now:
        wake_sender(delivery.pk)
    return delivery, created


def _customers_create(rows: list[tuple[int, int, int | None, str]]) -> None:
    """The recipient rows of customer messages: (delivery id, clinic id, patient id, uid)."""
    now = timezone.now()
    DeliveryRecipient.objects.bulk_create(
        [
            DeliveryRecipient(
                delivery_id=d, clinic_id=c, patient_id=p, external_userid=uid, updated_at=now
            )
            for d, c, p, uid in rows
        ],
        batch_size=INSERT_CHUNK,
        ignore_conflicts=True,
    )


INSERT_CHUNK = 1000  # rows per INSERT statement
_INSERT_FIELDS = (
    "clinic",
    "idempotency_key",
    "channel",
    "recipient",
    "sender",
    "patient",
    "body",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "expires_at",
    "last_error",
    "provider_message_id",
    "possible_duplicate",
    "created_at",
)


def delivery_enqueue_many(messages: list[dict]) -> dict[tuple[int, str], tuple[int, bool]]:
    """delivery_enqueue for many messages (dicts of its keyword arguments, `clinic_id` or
    `clinic`), in set-based statements. Same rules: a key already there is a no-op (the
    unique constraint decides, so concurrent callers cannot both create it), and one
    wake-up after commit for the whole lot. Returns {(clinic id, key): (id, created)}."""
    now = timezone.now()
    rows, seen = [], set()
    for message in messages:
        _check(message["channel"], message["body"], message["recipient"])
        clinic_id = message.get("clinic_id") or message["clinic"].pk
        if (clinic_id, message["key"]) in seen:
            continue  # the first of two equal keys wins, as two delivery_enqueue calls would
        seen.add((clinic_id, message["key"]))
        patient = message.get("patient")
        rows.append(
            Delivery(
                clinic_id=clinic_id,
                idempotency_key=message["key"],
                channel=message["channel"],
                recipient=message["recipient"],
                sender=message.get("sender", ""),
                patient_id=message.get("patient_id") or (patient.pk if patient else None),
                body=message["body"],
                payload=message.get("payload") or {},
                next_attempt_at=message.get("send_at") or now,
                expires_at=message.get("expires_at"),
                created_at=now,
            )
        )
    result = {}
    fields = [Delivery._meta.get_field(name) for name in _INSERT_FIELDS]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(Delivery._meta.db_table)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        for first in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[first : first + INSERT_CHUNK]
            params = [
                f.get_db_prep_save(getattr(row, f.attname), connection)
                for row in chunk
                for f in fields
            ]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(chunk))} "
                "ON CONFLICT (clinic_id, idempotency_key) DO NOTHING "
                "RETURNING id, clinic_id, idempotency_key",
                params,
            )
            for pk, clinic_id, key in cursor.fetchall():
                result[(clinic_id, key)] = (pk, True)
    existing = defaultdict(list)
    for row in rows:
        if (row.clinic_id, row.idempotency_key) not in result:
            existing[row.clinic_id].append(row.idempotency_key)
    for clinic_id, keys in existing.items():
        for pk, key in Delivery.objects.filter(
            clinic_id=clinic_id, idempotency_key__in=keys
        ).values_list("pk", "idempotency_key"):
            result[(clinic_id, key)] = (pk, False)
    _customers_create(
        [
            (result[(row.clinic_id, row.idempotency_key)][0], row.clinic_id, row.patient_id,
             row.recipient)
            for row in rows
            if row.channel == DeliveryChannel.CUSTOMER_MESSAGE
            and result[(row.clinic_id, row.idempotency_key)][1]
        ]
    )  # fmt: skip
    due_now = sum(
        1
        for row in rows
        if row.next_attempt_at <= now and result[(row.clinic_id, row.idempotency_key)][1]
    )
    wake_senders(due_now)
    return result


def wake_sender(delivery_id: int) -> None:
    """Ask a worker to send after commit. If the broker is down the beat scan sends it."""
    from wechat.tasks import delivery_send_task

    transaction.on_commit(lambda: delivery_send_task.delay(delivery_id), robust=True)


def wake_senders(due: int) -> None:
    """After commit, wake enough draining workers for `due` new rows: one per SEND_BATCH,
    at most WAKE_MAX (each drains until nothing is due). The beat scan backs this up."""
    from wechat.tasks import deliveries_send_due_task

    count = min(-(-due // SEND_BATCH), WAKE_MAX)

    def wake():
        for _n in range(count):
            deliveries_send_due_task.delay()

    if count:
        transaction.on_commit(wake, robust=True)


# Sending -------------------------------------------------------------------------------

SEND_BATCH = 20  # rows claimed at once: an in-doubt window of at most this many on a crash
WAKE_MAX = 8


def delivery_send(delivery_id: int) -> str:
    """Claim one due delivery and try to send it. Safe to call twice: only one claim wins."""
    now = timezone.now()
    results, go = sending.claim(Delivery.objects.due(now).filter(pk=delivery_id), now, 1)
    results.update(sending.attempt(go))
    return results.get(delivery_id, "not-due")


def deliveries_send_due(*, limit: int = SEND_BATCH) -> dict[int, str]:
    """Claim up to `limit` due rows (rows another sender holds are skipped) and send them,
    with one pacing reservation per bucket and bulk writes. Returns {id: outcome}."""
    now = timezone.now()
    results, go = sending.claim(Delivery.objects.due(now).order_by("next_attempt_at"), now, limit)
    results.update(sending.attempt(go))
    return results


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
            open_attempts = row.attempt_rows.filter(finished_at__isnull=True)
            # A worker finishing its call holds its attempt row and then wants the delivery's:
            # never wait for the attempt (that was a deadlock). A locked attempt means a live
            # worker, so the delivery is not stale after all.
            mine = list(
                open_attempts.select_for_update(skip_locked=True).values_list("pk", flat=True)
            )
            if len(mine) != open_attempts.count():
                continue
            in_doubt = bool(mine)
            row.attempt_rows.filter(pk__in=mine).update(
                finished_at=now, ok=False, error="worker lost during the call"
            )
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


def deliveries_next_due_in(*, now=None) -> float | None:
    """Seconds until the next waiting row is due (negative: overdue), None if none waits."""
    now = now or timezone.now()
    first = (
        Delivery.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED])
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return None if first is None else (first - now).total_seconds()
