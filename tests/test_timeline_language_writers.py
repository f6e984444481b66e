"""Every timeline writer stores its entry's wording, not its Chinese text: each family of
entries reads in English for a reader who asks for English (Accept-Language: en)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import translation

from followups import clock
from followups import services as followups
from patients.bulk import patient_create_many
from patients.merge import patient_merge
from patients.models import Patient
from patients.privacy import patient_erase
from wechat.contacts import contact_leave, tag_conflicts_record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _default_language_after():
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _english(client, patient) -> list[str]:
    response = client.get(
        f"/api/patients/{patient.pk}/timeline/", {"page_size": 100}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    return [row["summary"] for row in response.json()["results"]]


def _day_at(days: int, hhmm: str):
    return clock.at(clock.local_today() + timedelta(days=days), clock.hhmm(hhmm))


def test_appointment_entries_read_in_english(api, staff, make_patient):
    patient = make_patient(name="李梅", assigned_assistant=staff["assistant"])
    doctor = staff["doctor"]
    start = _day_at(1, "10:00")
    booked = followups.appointment_book(patient=patient, doctor=doctor, start=start, notes="空腹")
    followups.appointment_cancel(appointment=booked, reason="改期")
    followups.appointment_book(patient=patient, doctor=doctor, start=_day_at(2, "10:00"))
    # No WeCom contact: the reminder the day before is skipped, with the reason, in English.
    followups.appointment_reminders_enqueue(now=_day_at(1, "12:00"))
    past = _day_at(-1, "10:00")
    missed = followups.appointment_book(
        patient=patient, doctor=doctor, start=past, now=past - timedelta(days=7)
    )
    followups.appointment_no_show(appointment=missed, by=staff["assistant"])
    english = " | ".join(_english(api(staff["assistant"]), patient))
    when = f"{clock.local(start):%Y-%m-%d %H:%M}"
    assert f"Stage: Lead → Booked (Revisit booked for {when} with a-doctor: 空腹)" in english
    assert f"Appointment cancelled (改期): Revisit at {when} with a-doctor" in english
    assert "Appointment reminder not sent (the patient is not a WeCom contact)" in english
    assert "No-show: Revisit at " in english
    assert not any(
        "\u4e00" <= c <= "\u9fff"
        for c in english.replace("李梅", "").replace("空腹", "").replace("改期", "")
    ), english


def test_wecom_merge_import_and_erasure_entries_read_in_english(
    api, staff, clinic, make_patient, wecom_account
):
    patient = make_patient(name="周芳", external_userid="wmZHOUFANG")
    duplicate = make_patient(name="周芳二")
    patient_merge(survivor=patient, duplicate=duplicate, actor=staff["admin"])
    group = clinic.tag_groups.create(name="客户等级", is_single_choice=True)
    kept = clinic.tags.create(name="A级", group=group)
    lost = clinic.tags.create(name="B级", group=group)
    tag_conflicts_record(patient=patient, conflicts=[(group, kept, [lost])])
    contact_leave(
        account=wecom_account, external_userid="wmZHOUFANG", userid="wx-gone", by_patient=True
    )
    english = _english(api(staff["admin"]), patient)
    assert f"Merged the duplicate record #{duplicate.pk} (周芳二) into this one" in english
    assert (
        "WeCom set several tags of the single-choice group “客户等级”: kept “A级”, "
        "not applied “B级”" in english
    )
    assert "The patient deleted wx-gone on WeCom" in english

    vip = clinic.tags.create(name="VIP", group=clinic.tag_groups.create(name="自定义"))
    patient_create_many(
        clinic=clinic, rows=[{"name": "导入的", "source": "walk_in", "tags": [vip]}]
    )
    imported = Patient.objects.get(name="导入的")
    english = _english(api(staff["admin"]), imported)
    assert "Tags: +VIP" in english and "Patient record created (Walk-in)" in english

    patient_erase(patient=imported, by=staff["admin"], reason="患者要求")
    assert "Identity erased at the patient's request (PIPL art. 47)" in _english(
        api(staff["admin"]), imported
    )
