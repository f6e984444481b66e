"""The reminder the day before an appointment: from the due scan into the outbox once (key
appointment:{id}:reminder), sent to the fake WeCom over real HTTP, skipped with the reason on
the timeline when the patient may not be messaged, never during quiet hours."""

from datetime import timedelta

import pytest

from followups import clock, services
from followups.appointment_models import AppointmentReminder
from patients.services import patient_update
from tests.conftest import process_pending
from wechat import audience
from wechat.contacts import contact_arrive, contact_leave
from wechat.models import Delivery, DeliveryStatus, RedLinePhrase
from wechat.redline import content_settings_for

pytestmark = pytest.mark.django_db


def day_at(days: int, hhmm: str):
    return clock.at(clock.local_today() + timedelta(days=days), clock.hhmm(hhmm))


@pytest.fixture
def reachable(make_patient, staff, wecom_staff):
    return make_patient(
        name="周芳",
        external_userid="wmZHOUFANG",
        assigned_assistant=staff["assistant"],
        assigned_doctor=staff["doctor"],
    )


def test_the_reminder_leaves_once_through_the_outbox_to_the_fake_wecom(
    staff, reachable, wecom_account, fake_wecom
):
    appointment = services.appointment_book(
        patient=reachable, doctor=staff["doctor"], start=day_at(1, "09:30"), kind="re_exam"
    )
    # The day before it, at noon; nothing is due two days before.
    assert services.appointment_reminders_enqueue(now=day_at(-1, "12:00"))["enqueued"] == 0
    noon = day_at(0, "12:00")
    assert services.appointment_reminders_enqueue(now=noon) == {"enqueued": 1, "skipped": 0}
    # A second scan (or the due scan itself) finds nothing more to do.
    assert services.appointment_reminders_enqueue(now=noon)["enqueued"] == 0
    assert services.due_scan(now=noon + timedelta(minutes=1))["appointment_reminders"] == 0
    [delivery] = Delivery.objects.all()
    assert delivery.idempotency_key == f"appointment:{appointment.pk}:reminder"
    assert delivery.expires_at == appointment.start
    process_pending()
    process_pending()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    [message] = fake_wecom.customer_messages
    assert message["external_userid"] == ["wmZHOUFANG"] and message["sender"] == "wx-assistant"
    start = clock.local(appointment.start)
    assert message["content"] == (
        f"周芳您好，提醒您已预约{start.month}月{start.day}日 09:30在甲诊所a-doctor医生的复查，"
        "请按时到诊。如需改约或取消，请直接回复本消息。\n\n急症请立即就医或拨打120。"
    )
    appointment.refresh_from_db()
    assert appointment.reminder_state == AppointmentReminder.ENQUEUED
    assert appointment.reminder_delivery_id == delivery.pk
    assert reachable.touches.filter(payload__event="appointment_reminder_enqueued").count() == 1


def test_the_due_scan_sends_tomorrows_reminders(staff, reachable, wecom_account):
    services.appointment_book(patient=reachable, doctor=staff["doctor"], start=day_at(1, "15:00"))
    assert services.due_scan(now=day_at(0, "10:00"))["appointment_reminders"] == 1
    assert Delivery.objects.count() == 1


def test_no_reminder_in_quiet_hours_then_one_after_them(staff, reachable):
    services.appointment_book(patient=reachable, doctor=staff["doctor"], start=day_at(1, "10:00"))
    assert services.appointment_reminders_enqueue(now=day_at(0, "22:30"))["enqueued"] == 0
    assert not Delivery.objects.exists()
    assert services.appointment_reminders_enqueue(now=day_at(0, "08:00"))["enqueued"] == 1


def test_a_cancelled_or_marked_appointment_gets_no_reminder(staff, reachable):
    appointment = services.appointment_book(
        patient=reachable, doctor=staff["doctor"], start=day_at(1, "10:00")
    )
    services.appointment_cancel(appointment=appointment, reason="改期")
    assert services.appointment_reminders_enqueue(now=day_at(0, "12:00"))["enqueued"] == 0
    assert not Delivery.objects.exists()


def test_a_patient_who_may_not_be_messaged_is_skipped_with_the_reason(
    staff, make_patient, wecom_staff
):
    patient = make_patient(name="无企微", assigned_assistant=staff["assistant"])
    appointment = services.appointment_book(
        patient=patient, doctor=staff["doctor"], start=day_at(1, "10:00")
    )
    counts = services.appointment_reminders_enqueue(now=day_at(0, "12:00"))
    assert counts == {"enqueued": 0, "skipped": 1}
    appointment.refresh_from_db()
    assert appointment.reminder_state == AppointmentReminder.SKIPPED
    [touch] = patient.touches.filter(payload__event="appointment_reminder_skipped")
    assert "患者不是企业微信联系人" in touch.summary
    assert not Delivery.objects.exists()
    # Skipped once: the next scan does not try again.
    assert services.appointment_reminders_enqueue(now=day_at(0, "12:05"))["skipped"] == 0


def test_a_red_line_added_after_booking_blocks_the_reminder_at_send(staff, reachable, clinic):
    appointment = services.appointment_book(
        patient=reachable, doctor=staff["doctor"], start=day_at(1, "10:00")
    )
    RedLinePhrase.objects.create(clinic=clinic, phrase="按时到诊", reason="测试用的红线")
    counts = services.appointment_reminders_enqueue(now=day_at(0, "12:00"))
    assert counts == {"enqueued": 0, "skipped": 1}
    appointment.refresh_from_db()
    assert appointment.reminder_state == AppointmentReminder.SKIPPED
    [touch] = reachable.touches.filter(payload__event="appointment_reminder_skipped")
    assert "按时到诊" in touch.summary and "测试用的红线" in touch.summary
    assert not Delivery.objects.exists()


def test_the_emergency_notice_is_the_clinics_composers(staff, reachable, clinic):
    settings = content_settings_for(clinic=clinic)
    settings.emergency_notice = "如有急症请拨打120急救电话。"
    settings.save()
    services.appointment_book(patient=reachable, doctor=staff["doctor"], start=day_at(1, "10:00"))
    assert services.appointment_reminders_enqueue(now=day_at(0, "12:00"))["enqueued"] == 1
    [delivery] = Delivery.objects.all()
    assert delivery.body.endswith("\n\n如有急症请拨打120急救电话。")
    assert delivery.payload["purpose"] == "care"


def test_a_deleted_wecom_contact_skips_the_reminder(staff, callback_account, wecom_staff):
    patient, _welcome = contact_arrive(
        account=callback_account, external_userid="wm-appt-del", userid="wx-assistant"
    )
    patient_update(patient=patient, assigned_assistant=staff["assistant"])
    appointment = services.appointment_book(
        patient=patient, doctor=staff["doctor"], start=day_at(1, "10:00")
    )
    contact_leave(
        account=callback_account,
        external_userid="wm-appt-del",
        userid="wx-assistant",
        by_patient=True,
    )
    counts = services.appointment_reminders_enqueue(now=day_at(0, "12:00"))
    assert counts == {"enqueued": 0, "skipped": 1}
    appointment.refresh_from_db()
    assert appointment.reminder_state == AppointmentReminder.SKIPPED
    [touch] = patient.touches.filter(payload__event="appointment_reminder_skipped")
    assert str(audience.exclusion_label(audience.Exclusion.CONTACT_LOST)) in touch.summary
    assert "删除" in touch.summary
    assert not Delivery.objects.filter(patient=patient).exists()
