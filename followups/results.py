"""Poll WeCom for what became of patient reminders and record it on the timeline.

A customer message is sent by WeCom only once the staff member confirms it in their
client, so "sent" in the outbox means "handed to WeCom"; the send result tells whether
the patient got it.
"""

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from followups.models import FollowUpTask, ReminderState
from followups.wecom_results import SEND_STATUS, groupmsg_send_result
from patients.models import TouchChannel, TouchKind
from patients.services import touch_record
from wechat.models import Delivery, DeliveryStatus
from wechat.transport import WeComError

BATCH = 500
FINAL_DELIVERY = {DeliveryStatus.DEAD, DeliveryStatus.SKIPPED, DeliveryStatus.MISSED}


def reminder_results_poll(*, batch: int = BATCH) -> dict:
    counts = {"received": 0, "waiting": 0, "failed": 0, "errors": 0}
    tasks = list(
        FollowUpTask.objects.filter(reminder_state=ReminderState.ENQUEUED, reminder_result="")
        .exclude(reminder_delivery_id=None)
        .select_related("patient", "clinic__wecom_account")
        .order_by("id")[:batch]
    )
    deliveries = Delivery.objects.in_bulk([t.reminder_delivery_id for t in tasks])
    with translation.override("zh-hans"):
        for task in tasks:
            delivery = deliveries.get(task.reminder_delivery_id)
            if delivery is None:
                continue
            if delivery.status in FINAL_DELIVERY:
                # The outbox already wrote the reason on the timeline.
                FollowUpTask.objects.filter(pk=task.pk).update(reminder_result=delivery.status)
                counts["failed"] += 1
                continue
            if delivery.status != DeliveryStatus.SENT or not delivery.provider_message_id:
                counts["waiting"] += 1
                continue
            try:
                rows = groupmsg_send_result(
                    task.clinic.wecom_account,
                    msgid=delivery.provider_message_id,
                    sender=delivery.sender,
                )
            except WeComError:
                counts["errors"] += 1
                continue
            row = next((r for r in rows if r.get("external_userid") == delivery.recipient), None)
            status = SEND_STATUS.get(row.get("status") if row else 0, "unconfirmed")
            if status == "unconfirmed":
                counts["waiting"] += 1
                continue
            with transaction.atomic():
                FollowUpTask.objects.filter(pk=task.pk).update(reminder_result=status)
                summary = (
                    _("The patient received the reminder: %(task)s")
                    if status == "sent"
                    else _("WeCom did not deliver the reminder (%(status)s): %(task)s")
                )
                touch_record(
                    patient=task.patient,
                    kind=TouchKind.FOLLOWUP,
                    channel=TouchChannel.WECOM,
                    summary=summary % {"task": task.title, "status": status},
                    payload={"task_id": task.pk, "event": "reminder_result", "status": status},
                )
            counts["received" if status == "sent" else "failed"] += 1
    return counts
