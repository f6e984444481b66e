"""A staff member's WeCom customers handed to a colleague: 在职继承 (transfer_customer) for a
member still employed, 离职继承 (resigned/transfer_customer) for one who left WeCom.

- `transfers_request` asks WeCom, 100 customers a call, and records one CustomerTransfer per
  patient (waiting, or failed with WeCom's errcode) with an entry on the patient's timeline.
  A retry of the same handover (same `batch`) skips the patients it already asked for; a
  customer WeCom already has in a transfer (40129, a call whose answer was lost) is waiting.
- `transfers_poll` (beat) reads transfer_result for every pair with waiting transfers: done
  moves the WeCom relation (ContactArrival) to the new member; refused, over the limit, no
  record are failures the handover page shows; each result goes on the patient's timeline.
- Customer messages while a patient is being transferred (`outbox_transfer_rule`, asked by
  the sender when it claims a block): a message in the name of the member who hands the
  patient over waits until the transfer ends, then goes once, from whoever has the patient
  then (the new member when it was done, else the old one). Nothing is sent twice: it is the
  same outbox row, its sender changed before its only hand-over to WeCom.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from patients.models import Patient, Touch, TouchChannel, TouchKind
from patients.timeline import touch_build, worded
from wechat import transport
from wechat.models import (
    WECOM_TRANSFER_STATUS,
    ContactArrival,
    CustomerTransfer,
    TransferKind,
    TransferStatus,
)

logger = logging.getLogger(__name__)

IN_TRANSFER = 40129  # WeCom: this customer is already being transferred
HOLD_SLACK = timedelta(minutes=5)  # after the automatic transfer time, before sending
FINAL = [s for s in TransferStatus.values if s != TransferStatus.WAITING]


def patients_to_transfer(*, clinic_id: int, userid: str):
    """The patients that are a WeCom contact of `userid` (by CareLoop's record)."""
    return Patient.objects.filter(
        clinic_id=clinic_id,
        wecom_arrivals__staff_userid=userid,
        wecom_arrivals__still_contact=True,
    ).exclude(external_userid="")


def transfers_request(
    *,
    account,
    batch: str,
    handover_userid: str,
    takeover_userid: str,
    resigned: bool,
    message: str = "",
    actor=None,
) -> dict:
    """Ask WeCom to move every patient of `handover_userid` to `takeover_userid`. Returns
    counts: waiting, failed, skipped (already asked in this batch or already in a transfer)."""
    clinic_id = account.clinic_id
    kind = TransferKind.RESIGNED if resigned else TransferKind.ONJOB
    asked = CustomerTransfer.objects.filter(clinic_id=clinic_id, batch=batch).values(
        "external_userid"
    )
    busy = CustomerTransfer.objects.filter(clinic_id=clinic_id).waiting().values("external_userid")
    candidates = patients_to_transfer(clinic_id=clinic_id, userid=handover_userid)
    todo = list(
        candidates.exclude(external_userid__in=asked)
        .exclude(external_userid__in=busy)
        .order_by("pk")
        .values_list("pk", "external_userid")
    )
    counts = {"waiting": 0, "failed": 0, "skipped": candidates.count() - len(todo)}
    for start in range(0, len(todo), transport.TRANSFER_BATCH):
        chunk = todo[start : start + transport.TRANSFER_BATCH]
        answers = transport.transfer_customers(
            account,
            handover_userid=handover_userid,
            takeover_userid=takeover_userid,
            external_userids=[uid for _pk, uid in chunk],
            resigned=resigned,
            message=message,
        )
        now = timezone.now()
        rows, touches = [], []
        with translation.override(settings.LANGUAGE_CODE):
            for patient_id, external_userid in chunk:
                errcode = answers.get(external_userid, 0)
                waiting = errcode in (0, IN_TRANSFER)
                status = TransferStatus.WAITING if waiting else TransferStatus.FAILED
                counts["waiting" if waiting else "failed"] += 1
                rows.append(
                    CustomerTransfer(
                        clinic_id=clinic_id,
                        kind=kind,
                        batch=batch,
                        handover_userid=handover_userid,
                        takeover_userid=takeover_userid,
                        patient_id=patient_id,
                        external_userid=external_userid,
                        status=status,
                        errcode=errcode or None,
                        takeover_at=now + timedelta(days=1) if waiting else None,
                        finished_at=None if waiting else now,
                    )
                )
                touches.append(_touch(rows[-1], actor=actor))
        with transaction.atomic():
            try:
                CustomerTransfer.objects.bulk_create(rows)
            except IntegrityError:  # a concurrent run of the same batch: keep its rows
                return counts
            Touch.objects.bulk_create(touches)
    return counts


def _touch(transfer: CustomerTransfer, actor=None) -> Touch:
    msgid = {
        TransferStatus.WAITING: gettext_noop(
            "WeCom handover from %(from)s to %(to)s requested (the patient may refuse within 24 hours)"
        ),
        TransferStatus.DONE: gettext_noop("WeCom handover from %(from)s to %(to)s done"),
        TransferStatus.FAILED: gettext_noop(
            "WeCom handover from %(from)s to %(to)s refused by WeCom (error %(errcode)s)"
        ),
    }.get(
        transfer.status, gettext_noop("WeCom handover from %(from)s to %(to)s failed: %(result)s")
    )
    return touch_build(
        clinic_id=transfer.clinic_id,
        patient_id=transfer.patient_id,
        kind=TouchKind.PROFILE,
        channel=TouchChannel.WECOM,
        actor=actor,
        summary=worded(
            msgid,
            **{"from": transfer.handover_userid},
            to=transfer.takeover_userid,
            errcode=str(transfer.errcode or ""),
            result=TransferStatus(transfer.status).label,
        ),
        payload={"event": "wecom_transfer", "status": transfer.status, "kind": transfer.kind},
    )


# The results ---------------------------------------------------------------------------


def transfers_poll(*, now=None) -> dict:
    """Read WeCom's results for every pair with waiting transfers. Safe to run twice or at
    once: each result is set on a still-waiting row under a lock."""
    counts = {"done": 0, "failed": 0, "waiting": 0, "errors": 0}
    pairs = (
        CustomerTransfer.objects.waiting()
        .values_list("clinic_id", "kind", "handover_userid", "takeover_userid")
        .distinct()
    )
    from wechat.models import WeComAccount

    for clinic_id, kind, handover, takeover in list(pairs):
        account = WeComAccount.objects.filter(clinic_id=clinic_id).first()
        if account is None:
            continue
        try:
            results = {
                row["external_userid"]: row
                for row in transport.transfer_results(
                    account,
                    handover_userid=handover,
                    takeover_userid=takeover,
                    resigned=kind == TransferKind.RESIGNED,
                )
            }
        except transport.WeComError as exc:
            logger.warning("transfer results %s→%s: %s", handover, takeover, exc)
            counts["errors"] += 1
            continue
        for key, n in _results_record(clinic_id, kind, handover, takeover, results, now).items():
            counts[key] += n
    return counts


@transaction.atomic
def _results_record(clinic_id, kind, handover, takeover, results, now=None) -> dict:
    now = now or timezone.now()
    counts = {"done": 0, "failed": 0, "waiting": 0}
    rows = list(
        CustomerTransfer.objects.select_for_update(skip_locked=True)
        .waiting()
        .filter(clinic_id=clinic_id, kind=kind, handover_userid=handover, takeover_userid=takeover)
    )
    touches = []
    with translation.override(settings.LANGUAGE_CODE):
        for transfer in rows:
            row = results.get(transfer.external_userid)
            if row is None:
                # WeCom lists every transfer of the pair: one it does not list a day after
                # its time has no record there.
                if transfer.takeover_at and now < transfer.takeover_at + timedelta(days=1):
                    counts["waiting"] += 1
                    continue
                status = TransferStatus.NO_RECORD
            else:
                status = WECOM_TRANSFER_STATUS.get(
                    int(row.get("status", 5)), TransferStatus.NO_RECORD
                )
            if status == TransferStatus.WAITING:
                if row.get("takeover_time"):
                    transfer.takeover_at = datetime.fromtimestamp(int(row["takeover_time"]), UTC)
                    transfer.save(update_fields=["takeover_at"])
                counts["waiting"] += 1
                continue
            transfer.status, transfer.finished_at = status, now
            if status == TransferStatus.DONE:
                if row.get("takeover_time"):
                    transfer.takeover_at = datetime.fromtimestamp(int(row["takeover_time"]), UTC)
                _relation_move(transfer, now)
                counts["done"] += 1
            else:
                counts["failed"] += 1
            transfer.save(update_fields=["status", "finished_at", "takeover_at"])
            if transfer.patient_id is not None:
                touches.append(_touch(transfer))
    Touch.objects.bulk_create(touches)
    finished = [t for t in rows if t.status != TransferStatus.WAITING]
    if finished:
        # Held until at most the latest transfer time (+ slack): later rows are scheduled.
        until = max((t.takeover_at or now) for t in finished) + HOLD_SLACK + timedelta(days=1)
        _held_release(clinic_id, handover, [t.patient_id for t in finished], now, until)
    return counts


def _held_release(clinic_id, handover, patient_ids, now, until) -> None:
    """Customer messages held for these patients' transfers (outbox_transfer_rule) are due
    now; a message to many is due once none of its sender's transfers is waiting."""
    from wechat.models import Delivery, DeliveryChannel, DeliveryStatus
    from wechat.outbox import wake_sender

    held = Delivery.objects.filter(
        clinic_id=clinic_id,
        channel=DeliveryChannel.CUSTOMER_MESSAGE,
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED],
        sender=handover,
        next_attempt_at__gt=now,
        next_attempt_at__lte=until,
    )
    single = held.filter(patient_id__in=[pk for pk in patient_ids if pk is not None])
    ids = list(single.values_list("pk", flat=True))
    still = CustomerTransfer.objects.waiting().filter(clinic_id=clinic_id, handover_userid=handover)
    if not still.exists():
        ids += held.filter(patient__isnull=True).values_list("pk", flat=True)
    Delivery.objects.filter(pk__in=ids).update(next_attempt_at=now)
    for pk in ids:
        wake_sender(pk)


def _relation_move(transfer: CustomerTransfer, now) -> None:
    """WeCom moved the contact: the old member's relation is gone, the new one's exists."""
    if transfer.patient_id is None:
        return
    ContactArrival.objects.filter(
        clinic_id=transfer.clinic_id,
        patient_id=transfer.patient_id,
        staff_userid=transfer.handover_userid,
        still_contact=True,
    ).update(still_contact=False, left_at=now)
    ContactArrival.objects.update_or_create(
        clinic_id=transfer.clinic_id,
        patient_id=transfer.patient_id,
        staff_userid=transfer.takeover_userid,
        defaults={"still_contact": True, "left_at": None},
        create_defaults={"still_contact": True, "arrived_at": now},
    )


# The outbox while a patient is being transferred ---------------------------------------


def outbox_transfer_rule(deliveries) -> dict[int, tuple[str, object]]:
    """For claimed customer messages: {delivery id: ("hold", until)} for a message in the
    name of a member who is handing its patient (or, for a message to many, any patient)
    over; {delivery id: ("sender", userid)} for one whose patient was transferred from its
    sender, to be sent from the new member. One query for the block."""
    by_sender = {}
    for delivery in deliveries:
        if delivery.sender:
            by_sender.setdefault((delivery.clinic_id, delivery.sender), []).append(delivery)
    if not by_sender:
        return {}
    clinic_ids = {clinic_id for clinic_id, _s in by_sender}
    senders = {sender for _c, sender in by_sender}
    transfers = CustomerTransfer.objects.filter(
        clinic_id__in=clinic_ids, handover_userid__in=senders
    ).filter(status__in=[TransferStatus.WAITING, TransferStatus.DONE])
    waiting, done = {}, {}
    fields = ("clinic_id", "handover_userid", "takeover_userid", "patient_id", "status")
    for t in transfers.order_by("created_at", "pk").only(*fields, "takeover_at"):
        key = (t.clinic_id, t.handover_userid)
        if t.status == TransferStatus.WAITING:
            waiting.setdefault(key, {})[t.patient_id] = t.takeover_at
        else:
            done.setdefault(key, {})[t.patient_id] = t.takeover_userid
    rule = {}
    for key, rows in by_sender.items():
        for delivery in rows:
            held = waiting.get(key, {})
            if delivery.patient_id is not None:
                if delivery.patient_id in held:
                    until = held[delivery.patient_id] or timezone.now() + timedelta(days=1)
                    rule[delivery.pk] = ("hold", until + HOLD_SLACK)
                elif new := done.get(key, {}).get(delivery.patient_id):
                    rule[delivery.pk] = ("sender", new)
            elif held:
                latest = max((at for at in held.values() if at), default=timezone.now())
                rule[delivery.pk] = ("hold", latest + HOLD_SLACK)
            elif len(set(done.get(key, {}).values())) == 1:
                rule[delivery.pk] = ("sender", next(iter(done[key].values())))
    return rule


def handover_transfers(*, clinic_id: int, handover_userid: str):
    """The transfers of one staff member's patients, newest first (the handover page)."""
    return (
        CustomerTransfer.objects.filter(clinic_id=clinic_id, handover_userid=handover_userid)
        .select_related("patient")
        .order_by("-created_at", "-id")
    )
