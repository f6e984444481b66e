"""The patient's reminder the day before an appointment, through the outbox.

Part of the due scan (every minute, followups.tasks.followups_due_scan): booked appointments
on tomorrow's clinic day whose reminder has not been handled yet become one customer message
each, key ``appointment:{id}:reminder`` (a second scan, or a concurrent one, sends nothing
more), expiring at the appointment's time. Never an ETA task: the due time is the row's start.
Not during quiet hours: the first scan after them sends (the appointment is a day away).
Who may receive it and from whom is the one audience rule (wechat.audience, purpose care);
the text is the clinic's composer's (wechat.composer: red lines checked at send, the 120
notice). A patient who may not be messaged, or a text the composer refuses, is skipped with
the reason on the timeline.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from crm.models import Membership
from followups import clock
from followups.appointment_models import Appointment, AppointmentReminder
from patients.choices import CaregiverRelation, CaregiverReminder, Stage, TouchKind
from patients.timeline import touch_record, worded
from wechat import audience
from wechat.composer import VARIABLES, composer_for
from wechat.models import DeliveryChannel
from wechat.services import delivery_enqueue

BATCH = 500

# The reminder's text. Its variables are the composer's ({姓名} {医生} {复诊日期} {诊所}) and
# two of its own: {时间} (the time of day) and {类型} (the appointment's kind). The composer
# fills them at send, checks the clinic's red lines again and appends its emergency notice.
REMINDER_TEXT = (
    "{姓名}您好，提醒您已预约{复诊日期} {时间}在{诊所}{医生}医生的{类型}，请按时到诊。"
    "如需改约或取消，请直接回复本消息。"
)
REMINDER_VARIABLES = (*VARIABLES, "时间", "类型")
# The same reminder to a caregiver the patient chose for appointment reminders ({家属}: the
# caregiver's name).
CAREGIVER_TEXT = (
    "{家属}您好，提醒您的家人{姓名}已预约{复诊日期} {时间}在{诊所}{医生}医生的{类型}，"
    "请提醒或陪同按时到诊。"
)
CAREGIVER_VARIABLES = (*REMINDER_VARIABLES, "家属")


def appointment_reminder_text(
    appointment: Appointment, doctor: str, composer=None, caregiver=None
) -> str:
    """The reminder through the clinic's composer (wechat.composer): every variable filled,
    the red lines checked on the filled text, the emergency notice appended. ValidationError
    when refused."""
    patient = appointment.patient
    composer = composer or composer_for(patient.clinic)
    start = clock.local(appointment.start)
    values = {
        "姓名": patient.name,
        "医生": doctor,
        "复诊日期": f"{start.month}月{start.day}日",
        "时间": f"{start:%H:%M}",
        "诊所": patient.clinic.name,
        "类型": appointment.get_kind_display(),
    }
    if caregiver is not None:
        values["家属"] = caregiver.name
        return composer.compose(
            CAREGIVER_TEXT, patient=patient, values=values, allowed=CAREGIVER_VARIABLES
        )
    return composer.compose(
        REMINDER_TEXT, patient=patient, values=values, allowed=REMINDER_VARIABLES
    )


def _caregivers_enqueue(appointment, caregivers, *, sender: str, doctor: str, composer, when):
    """The reminder to each of the patient's caregivers, through the audience rule's verdict
    (caregiver_verdicts) and the one outbox; each sent or skipped is on the patient's
    timeline, naming the caregiver. Returns the number enqueued."""
    patient = appointment.patient
    made = 0
    for caregiver, exclusion in caregivers:
        if exclusion == audience.Exclusion.CAREGIVER_NO_CONSENT:
            continue  # not chosen for appointment reminders: nothing to say
        reason = audience.exclusion_label(exclusion) if exclusion else ""
        if not reason and not sender:
            reason = audience.exclusion_label(audience.Exclusion.NO_SENDER)
        body = ""
        if not reason:
            try:
                body = appointment_reminder_text(appointment, doctor, composer, caregiver)
            except ValidationError as error:
                reason = " ".join(m for ms in error.message_dict.values() for m in ms)
        relation = CaregiverRelation(caregiver.relation).label
        if reason:
            touch_record(
                patient=patient,
                kind=TouchKind.FOLLOWUP,
                summary=worded(
                    gettext_noop(
                        "Appointment reminder not sent to caregiver %(name)s (%(relation)s)"
                        " (%(reason)s): %(time)s"
                    ),
                    name=caregiver.name,
                    relation=relation,
                    reason=reason,
                    time=when,
                ),
                payload={
                    "event": "caregiver_reminder_skipped",
                    "appointment_id": appointment.pk,
                    "caregiver_id": caregiver.pk,
                    "reason": exclusion or "text_refused",
                },
            )
            continue
        delivery, _created = delivery_enqueue(
            clinic=patient.clinic,
            key=f"appointment:{appointment.pk}:reminder:caregiver:{caregiver.pk}",
            channel=DeliveryChannel.CUSTOMER_MESSAGE,
            recipient=caregiver.external_userid,
            sender=sender,
            body=body,
            patient=patient,
            payload={
                "appointment_id": appointment.pk,
                "purpose": audience.Purpose.CARE,
                "caregiver_id": caregiver.pk,
                "reminder": CaregiverReminder.APPOINTMENT,
            },
            expires_at=appointment.start,
        )
        touch_record(
            patient=patient,
            kind=TouchKind.FOLLOWUP,
            channel="wecom",
            summary=worded(
                gettext_noop(
                    "Appointment reminder queued for caregiver %(name)s (%(relation)s): %(time)s"
                ),
                name=caregiver.name,
                relation=relation,
                time=when,
            ),
            payload={
                "event": "caregiver_reminder_enqueued",
                "appointment_id": appointment.pk,
                "caregiver_id": caregiver.pk,
                "delivery_id": delivery.pk,
            },
        )
        made += 1
    return made


def _skip_reason(patient, exclusion: str, sender: str) -> str:
    """Why the audience rule (purpose care) keeps the reminder from the patient, or "" (worded
    again in the timeline reader's language)."""
    if exclusion == audience.Exclusion.CONTACT_LOST:
        return audience.exclusion_label(exclusion)
    if not patient.consent_to_contact:
        return worded(gettext_noop("the patient withdrew consent"))
    if patient.stage == Stage.CHURNED:
        return worded(gettext_noop("the patient has churned"))
    if not patient.external_userid:
        return worded(gettext_noop("the patient is not a WeCom contact"))
    if not sender:
        return worded(gettext_noop("nobody with a WeCom account can send it"))
    return ""


def appointment_reminders_enqueue(*, now=None) -> dict:
    """Tomorrow's appointments' reminders into the outbox. Returns counts."""
    now = now or timezone.now()
    counts = {"enqueued": 0, "skipped": 0}  # and "caregivers" when any was enqueued
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
        # The audience rule for care messages (wechat.audience), once for the batch.
        patient_ids = {r.patient_id for r in rows}
        verdicts = audience.audience_verdicts(patient_ids, purpose=audience.Purpose.CARE)
        contacts = audience.contacts_of(patient_ids)
        caregivers = audience.caregiver_verdicts(
            {r.patient for r in rows}, reminder=CaregiverReminder.APPOINTMENT
        )
        composers = {}
        for appointment in rows:
            patient = appointment.patient
            doctor = members.get(appointment.doctor_id)
            # Sent by the patient's assistant, else whoever booked it, else the doctor; one
            # who is no longer a contact of the patient gives way to the rule's sender.
            senders = (
                patient.assigned_assistant_id,
                appointment.created_by_id,
                appointment.doctor_id,
            )
            rule_sender, exclusion = verdicts.get(patient.pk, ("", ""))
            known = contacts.get(patient.pk, {})
            sender = next(
                (
                    members[u].wecom_userid
                    for u in senders
                    if u in members
                    and members[u].wecom_userid
                    and known.get(members[u].wecom_userid) is not False
                ),
                "",
            )
            reason = _skip_reason(patient, exclusion, sender or rule_sender)
            body = ""
            doctor_name = doctor.name if doctor else appointment.doctor.get_username()
            if patient.clinic_id not in composers:
                composers[patient.clinic_id] = composer_for(patient.clinic)
            if not reason:
                try:
                    body = appointment_reminder_text(
                        appointment, doctor_name, composers[patient.clinic_id]
                    )
                except ValidationError as error:
                    reason = " ".join(m for ms in error.message_dict.values() for m in ms)
            when = f"{clock.local(appointment.start):%m-%d %H:%M}"
            if patient.pk in caregivers:
                made = _caregivers_enqueue(
                    appointment,
                    caregivers[patient.pk],
                    sender=sender or rule_sender,
                    doctor=doctor_name,
                    composer=composers[patient.clinic_id],
                    when=when,
                )
                if made:
                    counts["caregivers"] = counts.get("caregivers", 0) + made
            if reason:
                appointment.reminder_state = AppointmentReminder.SKIPPED
                appointment.save(update_fields=["reminder_state"])
                touch_record(
                    patient=patient,
                    kind=TouchKind.FOLLOWUP,
                    summary=worded(
                        gettext_noop("Appointment reminder not sent (%(reason)s): %(time)s"),
                        reason=reason,
                        time=when,
                    ),
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
                sender=sender or rule_sender,
                body=body,
                patient=patient,
                payload={"appointment_id": appointment.pk, "purpose": audience.Purpose.CARE},
                expires_at=appointment.start,
            )
            appointment.reminder_state = AppointmentReminder.ENQUEUED
            appointment.reminder_delivery_id = delivery.pk
            appointment.save(update_fields=["reminder_state", "reminder_delivery_id"])
            touch_record(
                patient=patient,
                kind=TouchKind.FOLLOWUP,
                channel="wecom",
                summary=worded(gettext_noop("Appointment reminder queued for %(time)s"), time=when),
                payload={
                    "event": "appointment_reminder_enqueued",
                    "appointment_id": appointment.pk,
                    "delivery_id": delivery.pk,
                },
            )
            counts["enqueued"] += 1
    return counts
