"""Record on the timeline what became of patient reminders.

A customer message is sent by WeCom only once the staff member confirms it in their
client, so "sent" in the outbox means "handed to WeCom". The outbox's results poll
(wechat.groupmsg, the one code that asks WeCom) sets each customer's result; this reads it.
"""

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from followups.models import FollowUpTask, ReminderState
from patients.choices import TouchChannel, TouchKind
from patients.timeline import touch_record
from wechat.models import Delivery, DeliveryRecipient, DeliveryStatus, RecipientStatus

BATCH = 500
FINAL_DELIVERY = {DeliveryStatus.DEAD, DeliveryStatus.SKIPPED, DeliveryStatus.MISSED}
# The customer's result, in the words reminder_result has always used.
RESULT = {
    RecipientStatus.DELIVERED: "sent",
    RecipientStatus.NOT_CONTACT: "not_a_contact",
    RecipientStatus.DAILY_LIMIT: "limit_reached",
    RecipientStatus.UNCONFIRMED: "unconfirmed",
    RecipientStatus.FAILED: "failed",
}


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
            row = (
                DeliveryRecipient.objects.filter(delivery=delivery)
                .values_list("status", flat=True)
                .first()
            )
            status = RESULT.get(row)
            if status is None:
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
