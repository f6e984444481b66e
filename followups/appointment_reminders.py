"""The patient's reminder the day before an appointment, through the outbox.

Part of the due scan (every minute, followups.tasks.followups_due_scan): booked appointments
on tomorrow's clinic day whose reminder has not been handled yet become one customer message
each, key ``appointment:{id}:reminder`` (a second scan, or a concurrent one, sends nothing
more), expiring at the appointment's time. Never an ETA task: the due time is the row's start.
Not during quiet hours: the first scan after them sends (the appointment is a day away).
A patient who may not be messaged is skipped, with the reason on the timeline.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Membership
from followups import clock
from followups.appointment_models import Appointment, AppointmentReminder
from patients.models import Stage, TouchKind
from patients.services import touch_record
from wechat.models import DeliveryChannel
from wechat.services import delivery_enqueue

BATCH = 500

# The reminder's text. Its variables are the message templates' ({姓名} {医生} {复诊日期}
# {诊所}) and {时间} (the time of day). Ends with the emergency notice, as every patient text.
REMINDER_TEXT = (
    "{姓名}您好，提醒您已预约{复诊日期} {时间}在{诊所}{医生}医生的{类型}，请按时到诊。"
    "如需改约或取消，请直接回复本消息。"
)
EMERGENCY_NOTICE = "急症请立即就医或拨打120。"


def appointment_reminder_text(appointment: Appointment, doctor: str) -> str:
    """The ONE place the reminder's text is composed (the messaging composer replaces this
    body when it lands: placeholders, red lines, the 120 notice, WeCom's limits)."""
    start = clock.local(appointment.start)
    values = {
        "姓名": appointment.patient.name,
        "医生": doctor,
        "复诊日期": f"{start.month}月{start.day}日",
        "时间": f"{start:%H:%M}",
        "诊所": appointment.patient.clinic.name,
        "类型": appointment.get_kind_display(),
    }
    text = REMINDER_TEXT
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return f"{text}\n\n{EMERGENCY_NOTICE}"


def _skip_reason(patient) -> str:
    if not patient.consent_to_contact:
        return _("the patient withdrew consent")
    if patient.stage == Stage.CHURNED:
        return _("the patient has churned")
    if not patient.external_userid:
        return _("the patient is not a WeCom contact")
    return ""


def appointment_reminders_enqueue(*, now=None) -> dict:
    """Tomorrow's appointments' reminders into the outbox. Returns counts."""
    now = now or timezone.now()
    counts = {"enqueued": 0, "skipped": 0}
    if clock.in_quiet_hours(now):
        return counts
    start, end = clock.day_bounds(clock.local_today(now) + timedelta(days=1))
    with transaction.atomic():
        rows = list(
            Appointment.objects.booked()
            .filter(reminder_state=AppointmentReminder.NONE, start__gte=start, start__lt=end)
            .select_related("patient__clinic", "doctor")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("start", "id")[:BATCH]
        )
        if not rows:
            return counts
        users = {r.doctor_id for r in rows} | {r.created_by_id for r in rows}
        users |= {r.patient.assigned_assistant_id for r in rows}
        members = {
            m.user_id: m
            for m in Membership.objects.filter(
                clinic_id__in={r.clinic_id for r in rows}, user_id__in=users - {None}
            ).select_related("user")
        }
        for appointment in rows:
            patient = appointment.patient
            doctor = members.get(appointment.doctor_id)
            # Sent by the patient's assistant, else whoever booked it, else the doctor.
            senders = (
                patient.assigned_assistant_id,
                appointment.created_by_id,
                appointment.doctor_id,
            )
            sender = next(
                (
                    members[u].wecom_userid
                    for u in senders
                    if u in members and members[u].wecom_userid
                ),
                "",
            )
            reason = _skip_reason(patient) or (
                "" if sender else _("nobody with a WeCom account can send it")
            )
            when = f"{clock.local(appointment.start):%m-%d %H:%M}"
            if reason:
                appointment.reminder_state = AppointmentReminder.SKIPPED
                appointment.save(update_fields=["reminder_state"])
                touch_record(
                    patient=patient,
                    kind=TouchKind.FOLLOWUP,
                    summary=_("Appointment reminder not sent (%(reason)s): %(time)s")
                    % {"reason": reason, "time": when},
                    payload={
                        "event": "appointment_reminder_skipped",
                        "appointment_id": appointment.pk,
                        "reason": reason,
                    },
                )
                counts["skipped"] += 1
                continue
            delivery, _created = delivery_enqueue(
                clinic=patient.clinic,
                key=f"appointment:{appointment.pk}:reminder",
                channel=DeliveryChannel.CUSTOMER_MESSAGE,
                recipient=patient.external_userid,
                sender=sender,
                body=appointment_reminder_text(
                    appointment, doctor.name if doctor else appointment.doctor.get_username()
                ),
                patient=patient,
                payload={"appointment_id": appointment.pk},
                expires_at=appointment.start,
            )
            appointment.reminder_state = AppointmentReminder.ENQUEUED
            appointment.reminder_delivery_id = delivery.pk
            appointment.save(update_fields=["reminder_state", "reminder_delivery_id"])
            touch_record(
                patient=patient,
                kind=TouchKind.FOLLOWUP,
                channel="wecom",
                summary=_("Appointment reminder queued for %(time)s") % {"time": when},
                payload={
                    "event": "appointment_reminder_enqueued",
                    "appointment_id": appointment.pk,
                    "delivery_id": delivery.pk,
                },
            )
            counts["enqueued"] += 1
    return counts
