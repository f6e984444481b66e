"""How the outbox sends a claimed block (wechat.outbox is the door: delivery_send,
deliveries_send_due): the claim with its pacing slots and attempt rows, the calls, and
the results written for the whole block at once."""

import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from patients.choices import TouchChannel, TouchKind
from patients.models import Touch
from patients.timeline import touch_build, worded
from wechat import audience, groupmsg, pacing, redline, transfers, transport
from wechat.composer import links_masked
from wechat.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryRecipient,
    DeliveryStatus,
    RecipientStatus,
)

PATIENT_CHANNELS = {DeliveryChannel.CUSTOMER_MESSAGE, DeliveryChannel.WELCOME}
# WeCom has no duplicate check for these (app messages have enable_duplicate_check, a welcome
# code works once): each is recorded as soon as WeCom accepts it, so a worker lost later in
# its block cannot leave it looking unsent, to be sent twice.
UNGUARDED = {DeliveryChannel.CUSTOMER_MESSAGE, DeliveryChannel.ROBOT}
# Claimed ahead of any backlog (the index delivery_first_due): rows holding a reserved
# pacing slot, which would be wasted behind it, and welcome messages, whose code expires.
FIRST = Q(paced_until__isnull=False) | Q(channel=DeliveryChannel.WELCOME)
# A row whose pacing slot is further away than this goes back to the outbox until then;
# nearer, the sender waits for it. Several senders reserving blocks of one bucket queue
# behind each other for about (senders × block) slots: 8 × 20 at 133/s is 1.2 s.
PACE_WAIT = timedelta(seconds=2)


def claim(due, now, limit) -> tuple[dict[int, str], list]:
    """One transaction: lock up to `limit` rows of `due` (FIRST ahead of the rest),
    settle those that will not be sent, reserve pacing slots, put back the rows whose
    slot is far, and mark the rest as sending with an attempt row each. It commits before
    any call: a worker that dies during the calls leaves unfinished attempts, and the
    recovery scan flags those rows as possible duplicates."""
    due = due.select_related("clinic__wecom_account", "patient").select_for_update(
        skip_locked=True, of=("self",)
    )
    results, ready = {}, []
    with transaction.atomic():
        rows = list(due.filter(FIRST)[:limit])
        if len(rows) < limit:
            rest = due.filter(paced_until__isnull=True).exclude(channel=DeliveryChannel.WELCOME)
            rows += rest[: limit - len(rows)]
        contacts = audience.contacts_of(d.patient_id for d in rows if d.channel in PATIENT_CHANNELS)
        # A patient being handed to another staff member (wechat.transfers): the message waits
        # for the transfer, then goes from whoever has the patient.
        moving = transfers.outbox_transfer_rule(
            [d for d in rows if d.channel == DeliveryChannel.CUSTOMER_MESSAGE]
        )
        held, resent = [], []
        for delivery in rows:
            rule, value = moving.get(delivery.pk, (None, None))
            if rule == "hold":
                delivery.next_attempt_at = value
                held.append(delivery)
                results[delivery.pk] = "held"
                continue
            if rule == "sender":
                delivery.sender = value
                resent.append(delivery)
            if delivery.expires_at and now > delivery.expires_at:
                _finish(delivery, DeliveryStatus.MISSED, _("Too late to be useful; not sent."))
                results[delivery.pk] = "missed"
            elif reason := _skip_reason(delivery, contacts):
                _finish(delivery, DeliveryStatus.SKIPPED, reason)
                results[delivery.pk] = "skipped"
            elif not _customers_recheck(delivery, now):
                reason = _("Not sent: every customer was excluded when it was sent.")
                _finish(delivery, DeliveryStatus.SKIPPED, reason)
                results[delivery.pk] = "skipped"
            elif (account := getattr(delivery.clinic, "wecom_account", None)) is None:
                reason = _("WeCom is not configured for this clinic.")
                _finish(delivery, DeliveryStatus.DEAD, reason)
                results[delivery.pk] = "gave-up"
            else:
                ready.append((delivery, account))
        # A row already given a slot (paced_until) has waited for it: no second reservation.
        slots = pacing.reserve_slots(
            [(d, a) for d, a in ready if d.paced_until is None or now < d.paced_until], now
        )
        go, later = [], []
        for delivery, account in ready:
            slot = slots.get(delivery.pk, now)
            if slot > now + PACE_WAIT:
                delivery.next_attempt_at = delivery.paced_until = slot
                later.append(delivery)
                results[delivery.pk] = "paced"
            else:
                go.append((slot, delivery, account))
        _bulk_set(Delivery, later, ["next_attempt_at", "paced_until"])
        _bulk_set(Delivery, held, ["next_attempt_at"])
        _bulk_set(Delivery, resent, ["sender"])
        if not go:
            return results, []
        go.sort(key=lambda item: (item[0], item[1].pk))
        Delivery.objects.filter(pk__in=[d.pk for _s, d, _a in go]).update(
            status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
        attempts = DeliveryAttempt.objects.bulk_create(
            [
                DeliveryAttempt(clinic_id=delivery.clinic_id, delivery=delivery)
                for _slot, delivery, _account in go
            ]
        )
    return results, [(*item, attempt) for item, attempt in zip(go, attempts, strict=True)]


def attempt(go: list) -> dict[int, str]:
    """Make the calls of a claimed block, each at its pacing slot, then record the
    results of the whole block in one transaction (a message WeCom cannot deduplicate is
    recorded as soon as it is sent: see UNGUARDED)."""
    if not go:
        return {}
    sent, failed, results = [], [], {}
    with transport.token_reuse():
        for slot, delivery, account, attempt in go:
            wait = (slot - timezone.now()).total_seconds()
            if wait > 0:
                time.sleep(wait)
            started = time.monotonic()
            try:
                delivery.provider_message_id = _transmit(delivery, account)
            except transport.WeComError as exc:
                _attempt_done(attempt, started, ok=False, errcode=exc.errcode, error=str(exc))
                failed.append((delivery, exc, attempt))
                continue
            _attempt_done(attempt, started, ok=True)
            delivery.sent_at = timezone.now()
            if delivery.channel in UNGUARDED:
                _record_sent([(delivery, attempt)], results)
            else:
                sent.append((delivery, attempt))
    _record_sent(sent, results, other_attempts=[attempt for *_item, attempt in failed])
    for delivery, exc, _attempt in failed:
        results[delivery.pk] = _failed(delivery, exc)
    return results


def _record_sent(pairs: list, results: dict, other_attempts=()) -> None:
    """One transaction: the attempts, the sent rows and their timeline entries."""
    attempts = [attempt for _delivery, attempt in pairs] + list(other_attempts)
    if not attempts:
        return
    sent = [delivery for delivery, _attempt in pairs]
    with transaction.atomic():
        _bulk_set(
            DeliveryAttempt, attempts, ["finished_at", "ok", "errcode", "error", "duration_ms"]
        )
        for delivery in sent:
            delivery.status, delivery.last_error = DeliveryStatus.SENT, ""
            delivery.claimed_at = delivery.paced_until = None
            results[delivery.pk] = "sent"
        _bulk_set(
            Delivery,
            sent,
            ["status", "sent_at", "provider_message_id", "last_error", "claimed_at", "paced_until"],
        )
        Touch.objects.bulk_create(
            [_touch(d, DeliveryStatus.SENT) for d in sent if d.patient_id is not None]
        )
        groupmsg.handed_over([d for d in sent if d.channel == DeliveryChannel.CUSTOMER_MESSAGE])


def _bulk_set(model, rows: list, fields: list[str]) -> None:
    """Write `fields` of each row. Django's bulk_update builds a CASE per field and row,
    which cost more CPU than the sends it records; on PostgreSQL one UPDATE ... FROM
    (VALUES ...) does it."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(rows, fields)
        return
    columns = [model._meta.pk] + [model._meta.get_field(name) for name in fields]
    names = [connection.ops.quote_name(c.column) for c in columns]
    one = "(" + ", ".join(f"%s::{c.db_type(connection)}" for c in columns) + ")"
    table = connection.ops.quote_name(model._meta.db_table)
    params = [
        c.get_db_prep_save(getattr(row, c.attname), connection) for row in rows for c in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET "
            + ", ".join(f"{name} = v.{name}" for name in names[1:])
            + f" FROM (VALUES {', '.join([one] * len(rows))}) AS v({', '.join(names)}) "
            f"WHERE {table}.{names[0]} = v.{names[0]}",
            params,
        )


def _transmit(delivery: Delivery, account) -> str:
    if delivery.channel == DeliveryChannel.APP_MESSAGE:
        return transport.send_app_message(account, userid=delivery.recipient, text=delivery.body)
    if delivery.channel == DeliveryChannel.ROBOT:
        return transport.send_robot_message(account, text=delivery.body)
    if delivery.channel == DeliveryChannel.CUSTOMER_MESSAGE:
        userids = groupmsg.customers_of(delivery)
        delivery.customer_count = len(userids)
        found = None
        if delivery.possible_duplicate:
            # An earlier call's worker died: WeCom may have the task. Look before resending.
            found = groupmsg.task_find(account, delivery, userids)
        if found:
            msgid, delivery.fail_list = found
        elif groupmsg.is_group_message(delivery):
            # To customer groups (their chat ids): the owner confirms it for the groups.
            msgid, delivery.fail_list = (
                transport.add_group_msg_template(
                    account, sender=delivery.sender, chat_ids=userids, text=delivery.body
                ),
                [],
            )
        else:
            msgid, delivery.fail_list = transport.add_msg_template(
                account, sender=delivery.sender, external_userids=userids, text=delivery.body
            )
        return msgid
    transport.send_welcome_msg(
        account,
        welcome_code=delivery.payload["welcome_code"],
        text=delivery.body,
        link=delivery.payload.get("link"),
    )
    return ""


def _attempt_done(attempt, started, *, ok, errcode=None, error=""):
    """Fill in the attempt in memory; _attempt writes the block's attempts at once."""
    attempt.finished_at = timezone.now()
    attempt.ok, attempt.errcode, attempt.error = ok, errcode, error[:2000]
    attempt.duration_ms = transport.elapsed_ms(started)


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
        groupmsg.given_up(delivery)
        if delivery.patient_id is not None:
            _touch(delivery, status, reason).save()


def _skip_reason(delivery: Delivery, contacts: dict) -> str:
    """The audience rule (wechat.audience) again at send time: the patient was read with
    the claimed row, after the claim, so it is current."""
    if delivery.channel not in PATIENT_CHANNELS or delivery.patient is None:
        return ""
    reason = audience.delivery_exclusion(delivery, contacts)
    return audience.exclusion_label(reason) if reason else ""


def _customers_recheck(delivery: Delivery, now) -> int:
    """A customer message to many (a campaign's task): the audience rule again for each
    customer (wechat.audience.recipients_exclusions); the excluded are marked with their
    reason and a timeline entry, and left out of the call. Returns how many are left (1 for
    a message to one customer, checked by _skip_reason). A row in doubt after a dead worker
    is not re-checked: WeCom may have its task with those very customers (task_find)."""
    if delivery.channel != DeliveryChannel.CUSTOMER_MESSAGE or not delivery.recipient.startswith(
        "customers:"
    ):
        return 1
    if not delivery.possible_duplicate:
        rules = redline.content_settings_for(clinic=delivery.clinic)
        excluded = audience.recipients_exclusions(
            delivery,
            daily_cap=rules.per_customer_daily_cap,
            weekly_cap=rules.per_customer_weekly_cap,
            now=now,
        )
        if excluded:
            _customers_exclude(delivery, excluded, now)
    return delivery.recipient_rows.exclude(status=RecipientStatus.EXCLUDED).count()


def _customers_exclude(delivery: Delivery, excluded: dict[int, str], now) -> None:
    """Mark the excluded customers (one UPDATE per reason) and write on each patient's
    timeline why the mass message did not reach them."""
    by_reason: dict[str, list[int]] = {}
    for pk, reason in excluded.items():
        by_reason.setdefault(reason, []).append(pk)
    for reason, pks in by_reason.items():
        DeliveryRecipient.objects.filter(pk__in=pks, status=RecipientStatus.PENDING).update(
            status=RecipientStatus.EXCLUDED, reason=reason, updated_at=now
        )
    rows = DeliveryRecipient.objects.filter(pk__in=list(excluded), patient_id__isnull=False)
    Touch.objects.bulk_create(
        [
            touch_build(
                clinic_id=delivery.clinic_id,
                patient_id=patient_id,
                kind=TouchKind.MESSAGE,
                channel=TouchChannel.WECOM,
                summary=worded(
                    gettext_noop("WeCom mass message not sent (%(reason)s): %(body)s"),
                    reason=audience.exclusion_label(excluded[pk]),
                    body=links_masked(delivery.body)[:200],
                ),
                payload={
                    "delivery_id": delivery.pk,
                    "event": "customer_excluded",
                    "status": RecipientStatus.EXCLUDED,
                    "reason": excluded[pk],
                },
            )
            for pk, patient_id in rows.values_list("pk", "patient_id")
        ]
    )


def _touch(delivery: Delivery, status: str, reason: str = "") -> Touch:
    """The result on the patient's timeline, unsaved, so that a block's results go in one
    INSERT."""
    kind = TouchKind.WELCOME if delivery.channel == DeliveryChannel.WELCOME else TouchKind.MESSAGE
    msgid = {
        DeliveryStatus.SENT: gettext_noop("Sent on WeCom: %(body)s"),
        DeliveryStatus.SKIPPED: gettext_noop("Not sent (%(reason)s): %(body)s"),
        DeliveryStatus.MISSED: gettext_noop("Not sent (%(reason)s): %(body)s"),
        DeliveryStatus.DEAD: gettext_noop("Sending failed (%(reason)s): %(body)s"),
    }[status]
    if status == DeliveryStatus.SENT and delivery.channel == DeliveryChannel.CUSTOMER_MESSAGE:
        # WeCom has the task; it reaches the patient when the staff member confirms it.
        msgid = gettext_noop("Handed to WeCom, the staff member confirms it there: %(body)s")
    # Worded again in each reader's language (patients.timeline.worded).
    summary = worded(msgid, body=links_masked(delivery.body)[:200], reason=reason)
    return touch_build(
        clinic_id=delivery.clinic_id,
        patient_id=delivery.patient_id,
        kind=kind,
        channel=TouchChannel.WECOM,
        summary=summary,
        payload={"delivery_id": delivery.pk, "status": status, "channel": delivery.channel},
    )
