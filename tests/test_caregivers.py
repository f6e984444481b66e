"""Caregivers (家属): the appointment reminder the patient chose for a caregiver leaves through
the one outbox to the fake WeCom over real HTTP, with consent only (the caregiver's for that
reminder, and the patient's own); the patient's timeline says it went to the caregiver; the
caregiver's phone is encrypted at rest and masked in the list; another clinic gets a 404."""

from datetime import timedelta

import pytest
from django.db import connection

from crm.models import AuditAction, AuditEvent
from followups import clock, services
from patients import caregivers as caregiving
from patients.choices import CaregiverReminder
from patients.models import Caregiver
from patients.services import patient_update
from tests.conftest import process_pending
from wechat import audience
from wechat.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db


def day_at(days: int, hhmm: str):
    return clock.at(clock.local_today() + timedelta(days=days), clock.hhmm(hhmm))


def url(patient, rest=""):
    return f"/api/patients/{patient.pk}/caregivers/" + rest


@pytest.fixture
def elder(make_patient, staff, wecom_staff):
    # An elderly patient without WeCom of her own: the reminders go to her daughter.
    return make_patient(
        name="王秀英", assigned_assistant=staff["assistant"], assigned_doctor=staff["doctor"]
    )


@pytest.fixture
def daughter(elder):
    return caregiving.caregiver_save(
        patient=elder,
        name="李娟",
        relation="child",
        phone="139 0013 8000",
        external_userid="wmLIJUAN",
        reminders=[CaregiverReminder.APPOINTMENT],
    )


def book(elder, staff):
    return services.appointment_book(
        patient=elder, doctor=staff["doctor"], start=day_at(1, "09:30"), kind="re_exam"
    )


def test_the_chosen_caregiver_gets_the_appointment_reminder_through_the_fake_wecom(
    staff, elder, daughter, wecom_account, fake_wecom
):
    appointment = book(elder, staff)
    counts = services.appointment_reminders_enqueue(now=day_at(0, "12:00"))
    # The patient has no WeCom of her own (skipped, with the reason); her daughter gets it.
    assert counts == {"enqueued": 0, "skipped": 1, "caregivers": 1}
    [delivery] = Delivery.objects.all()
    assert delivery.idempotency_key == (
        f"appointment:{appointment.pk}:reminder:caregiver:{daughter.pk}"
    )
    assert delivery.patient_id == elder.pk and delivery.payload["caregiver_id"] == daughter.pk
    # A second scan adds nothing.
    assert services.appointment_reminders_enqueue(now=day_at(0, "12:01"))["enqueued"] == 0
    process_pending()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    [message] = fake_wecom.customer_messages
    assert message["external_userid"] == ["wmLIJUAN"] and message["sender"] == "wx-assistant"
    start = clock.local(appointment.start)
    assert message["content"].startswith(
        f"李娟您好，提醒您的家人王秀英已预约{start.month}月{start.day}日 09:30在甲诊所"
    )
    assert message["content"].endswith("急症请立即就医或拨打120。")
    # The patient's timeline says it went to the caregiver.
    [touch] = elder.touches.filter(payload__event="caregiver_reminder_enqueued")
    assert touch.payload["caregiver_id"] == daughter.pk
    assert touch.payload["delivery_id"] == delivery.pk
    assert "李娟" in touch.summary and "子女" in touch.summary


def test_a_caregiver_not_chosen_for_appointment_reminders_gets_nothing(
    staff, elder, daughter, wecom_account, fake_wecom
):
    caregiving.caregiver_save(
        patient=elder, caregiver=daughter, reminders=[CaregiverReminder.RE_EXAM]
    )
    book(elder, staff)
    counts = services.appointment_reminders_enqueue(now=day_at(0, "12:00"))
    assert "caregivers" not in counts
    assert not Delivery.objects.exists()
    process_pending()
    assert fake_wecom.customer_messages == []
    assert not elder.touches.filter(payload__event="caregiver_reminder_enqueued").exists()


def test_a_patient_who_opted_out_has_nothing_sent_to_her_caregivers(
    staff, elder, daughter, wecom_account, fake_wecom
):
    patient_update(patient=elder, consent_to_contact=False)
    book(elder, staff)
    services.appointment_reminders_enqueue(now=day_at(0, "12:00"))
    assert not Delivery.objects.exists()
    [skipped] = elder.touches.filter(payload__event="caregiver_reminder_skipped")
    assert skipped.payload["reason"] == audience.Exclusion.NO_CONSENT
    assert "李娟" in skipped.summary


def test_consent_withdrawn_after_enqueue_is_asked_again_at_send(
    staff, elder, daughter, wecom_account, fake_wecom
):
    book(elder, staff)
    services.appointment_reminders_enqueue(now=day_at(0, "12:00"))
    [delivery] = Delivery.objects.all()
    # The patient takes the caregiver off appointment reminders before it leaves.
    caregiving.caregiver_save(patient=elder, caregiver=daughter, reminders=[])
    process_pending()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SKIPPED
    assert fake_wecom.customer_messages == []


def test_the_audience_rule_answers_for_a_caregiver(elder, daughter):
    check = audience.caregiver_exclusion
    assert check(daughter, elder, CaregiverReminder.APPOINTMENT) == ""
    assert (
        check(daughter, elder, CaregiverReminder.SURVEY) == audience.Exclusion.CAREGIVER_NO_CONSENT
    )
    daughter.external_userid = ""
    assert check(daughter, elder, CaregiverReminder.APPOINTMENT) == audience.Exclusion.NO_WECOM


def test_phone_encrypted_in_the_db_and_masked_in_the_list(api, assistant, elder):
    response = api(assistant).post(
        url(elder),
        {
            "name": "李强",
            "relation": "spouse",
            "phone": "13900138001",
            "reminders": ["appointment"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    listed = api(assistant).get(url(elder)).json()
    assert [(c["name"], c["phone_masked"], c["relation_display"]) for c in listed] == [
        ("李强", "139****8001", "配偶")
    ]
    assert "13900138001" not in str(listed) and "phone" not in listed[0]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT phone_encrypted FROM {Caregiver._meta.db_table} WHERE id = %s",
            [listed[0]["id"]],
        )
        [stored] = cursor.fetchone()
    assert stored and "13900138001" not in stored and "8001" not in stored
    assert Caregiver.objects.get().phone == "+8613900138001"
    # On the patient's timeline, masked.
    [touch] = elder.touches.filter(payload__event="caregiver_added")
    assert touch.payload["phone"] == "139****8001"


def test_reveal_is_audited_and_limited_like_the_patients(api, assistant, doctor, elder, daughter):
    reveal = url(elder, f"{daughter.pk}/reveal-phone/")
    assert api(assistant).post(reveal).status_code == 403
    response = api(doctor).post(reveal)
    assert response.status_code == 200 and response.json()["phone"] == "+8613900138000"
    event = AuditEvent.objects.get(action=AuditAction.REVEAL_PHONE)
    assert event.object_type == "caregiver" and event.object_id == str(daughter.pk)


def test_edit_and_remove_through_the_api(api, assistant, elder, daughter):
    response = api(assistant).patch(
        url(elder, f"{daughter.pk}/"), {"reminders": ["re_exam", "appointment"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["reminders"] == ["appointment", "re_exam"]
    assert api(assistant).delete(url(elder, f"{daughter.pk}/")).status_code == 204
    assert not Caregiver.objects.exists()
    assert elder.touches.filter(payload__event="caregiver_removed").count() == 1


def test_a_nurse_reads_but_cannot_change_caregivers(api, nurse, elder, daughter, nurse_ward):
    patient_update(patient=elder, ward=nurse_ward)
    assert api(nurse).get(url(elder)).status_code == 200
    response = api(nurse).patch(url(elder, f"{daughter.pk}/"), {"name": "x"}, format="json")
    assert response.status_code == 403


def test_another_clinic_cannot_see_the_caregiver(api, outsider, elder, daughter):
    client = api(outsider)
    assert client.get(url(elder)).status_code == 404
    assert client.get(url(elder, f"{daughter.pk}/")).status_code == 404
    assert client.delete(url(elder, f"{daughter.pk}/")).status_code == 404
    assert client.post(url(elder, f"{daughter.pk}/reveal-phone/")).status_code == 404
    assert Caregiver.objects.filter(pk=daughter.pk).exists()


def test_another_patients_caregiver_id_is_a_404(api, assistant, make_patient, daughter):
    other = make_patient(name="赵六")
    assert api(assistant).get(url(other, f"{daughter.pk}/")).status_code == 404
    assert api(assistant).get(url(other, "abc/")).status_code == 404


@pytest.mark.parametrize(
    "data, field, words",
    [
        ({"name": "李强", "relation": "spouse", "phone": "1234"}, "phone", "有效"),
        ({"name": " ", "relation": "spouse"}, "name", "空"),
        ({"name": "李强", "relation": "neighbour"}, "relation", "合法选项"),
        ({"name": "李强", "relation": "spouse", "reminders": ["lottery"]}, "reminders", "合法选项"),
    ],
)
def test_bad_input_gives_a_chinese_error(api, assistant, elder, data, field, words):
    response = api(assistant).post(url(elder), data, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert words in str(errors[field]), errors
    assert not Caregiver.objects.exists()


def test_the_same_phone_twice_for_one_patient_is_a_chinese_error(api, assistant, elder, daughter):
    response = api(assistant).post(
        url(elder), {"name": "李娟", "relation": "child", "phone": "13900138000"}, format="json"
    )
    assert response.status_code == 400
    assert "已有" in response.json()["errors"]["phone"][0]


def test_the_demo_puts_a_caregiver_on_an_elderly_patient(clinic, staff):
    from patients.demo import seed_patients

    patients = seed_patients(
        clinic=clinic, count=8, doctors=[staff["doctor"]], assistants=[staff["assistant"]]
    )
    [caregiver] = Caregiver.objects.all()
    eligible = [p for p in patients if p.consent_to_contact and p.stage != "churned"]
    assert caregiver.patient.birth_date == min(p.birth_date for p in eligible)
    assert caregiver.phone_masked.startswith("139****")
    assert CaregiverReminder.APPOINTMENT in caregiver.reminders


def test_the_re_exam_reminder_goes_to_the_caregiver_chosen_for_it(
    clinic, elder, daughter, wecom_account, fake_wecom
):
    from tests.test_followups_reminders import re_exam, sh

    son = caregiving.caregiver_save(
        patient=elder,
        name="李刚",
        relation="child",
        external_userid="wmLIGANG",
        reminders=[CaregiverReminder.RE_EXAM],
    )
    task = re_exam(clinic, elder)
    counts = services.due_scan(now=sh(2026, 3, 1, 9, 0))
    # The patient has no WeCom: skipped; the son (chosen for re-exam reminders) gets it, the
    # daughter (appointment reminders only) does not.
    assert (counts["skipped"], counts["caregivers"]) == (1, 1)
    [delivery] = Delivery.objects.filter(channel="customer_message")
    assert delivery.idempotency_key == f"followup:{task.pk}:reminder:caregiver:{son.pk}"
    fake_wecom.add_contact(userid="wx-assistant", external_userid="wmLIGANG")
    process_pending()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    [message] = fake_wecom.customer_messages
    assert message["external_userid"] == ["wmLIGANG"]
    assert message["content"].startswith("李刚您好，以下是给您的家人王秀英的复诊提醒：\n")
    [touch] = elder.touches.filter(payload__event="caregiver_reminder_enqueued")
    assert touch.payload["caregiver_id"] == son.pk and "李刚" in touch.summary
    assert "家属" in touch.summary
    assert not elder.touches.filter(payload__caregiver_id=daughter.pk, kind="followup").exists()
    # A second scan sends nothing twice.
    services.due_scan(now=sh(2026, 3, 1, 9, 5))
    assert Delivery.objects.filter(channel="customer_message").count() == 1


def test_a_merge_moves_the_caregivers_and_an_erasure_removes_them(
    clinic, elder, daughter, make_patient
):
    from patients.merge import patient_merge
    from patients.models import Touch
    from patients.privacy import patient_erase

    duplicate = make_patient(name="王秀英")
    caregiving.caregiver_save(
        patient=duplicate, name="李娟", relation="child", phone="13900138000", reminders=[]
    )
    caregiving.caregiver_save(patient=duplicate, name="王军", relation="spouse", reminders=[])
    moved = patient_merge(survivor=elder, duplicate=duplicate)
    assert moved["caregivers"] == 1  # the same daughter (same phone) is kept once
    assert sorted(Caregiver.objects.filter(patient=elder).values_list("name", flat=True)) == [
        "李娟",
        "王军",
    ]
    patient_erase(patient=elder, by=None)
    assert not Caregiver.objects.exists()
    assert not Touch.objects.filter(summary__contains="李娟").exists()


def test_the_patients_data_export_lists_the_caregivers_masked(elder, daughter, admin_user):
    import io
    import json
    import zipfile

    from patients.privacy import patient_data_export

    archive = zipfile.ZipFile(io.BytesIO(patient_data_export(patient=elder, by=admin_user)))
    record = json.loads(archive.read("patient.json"))
    assert record["caregivers"] == [
        {"name": "李娟", "relation": "子女", "phone": "139****8000", "reminders": ["appointment"]}
    ]
