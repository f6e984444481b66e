"""Patients by hand (issue 15): add on the new-patient page and the API, the duplicate phone
refused with a link, the profile edited (a phone change audited, on the timeline, the old
number no longer finding the patient), one rule for who may edit which field on the page,
the API and Django admin, notes with a limit, the same stage, create forms safe against a
resend, and bad input refused in Chinese with nothing changed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import AuditAction, AuditEvent, Membership, Role
from patients import services, timeline
from patients.action_serializers import NOTE_MAX_LENGTH
from patients.choices import TouchKind
from patients.editing import EDITABLE_FIELDS, patient_editable_fields
from patients.models import Patient, StageTransition, Touch
from patients.services import NOTES_MAX_LENGTH
from tests.conftest import make_staff, second_factor_enrol

pytestmark = pytest.mark.django_db

NEW = "/patients/new/"


def form_data(**overrides):
    data = {
        "name": "周立新",
        "phone": "139 1234 5678",
        "gender": "male",
        "birth_date": "1970-03-02",
        "ward": "",
        "bed_number": "12",
        "assigned_doctor": "",
        "assigned_assistant": "",
        "source": "walk_in",
        "source_detail": "",
        "notes": "对青霉素过敏\n家属：女儿",
        "consent_to_contact": "on",
        "form_token": "token-1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def search(client, text):
    rows = client.get("/api/patients/", {"q": text}).json()["results"]
    return [row["id"] for row in rows]


# Adding ------------------------------------------------------------------------------------


def test_assistant_adds_a_patient_and_lands_on_the_page(client, assistant, doctor, clinic):
    client.force_login(assistant)
    page = client.get(NEW).content.decode()
    assert "新建患者" in page and 'name="form_token"' in page
    response = client.post(
        NEW,
        form_data(
            assigned_doctor=str(doctor.pk),
            assigned_assistant=str(assistant.pk),
        ),
    )
    patient = Patient.objects.get(clinic=clinic, name="周立新")
    assert response.status_code == 302 and response.url == f"/patients/{patient.pk}/"
    assert patient.phone == "+8613912345678" and patient.phone_masked == "139****5678"
    assert patient.bed_number == "12" and patient.notes == "对青霉素过敏\n家属：女儿"
    assert patient.assigned_doctor == doctor and patient.assigned_assistant == assistant
    assert patient.touches.filter(kind=TouchKind.PROFILE, actor=assistant).exists()
    detail = client.get(response.url).content.decode()
    assert "已添加患者 周立新" in detail and "床号 12" in detail


def test_the_same_form_sent_twice_makes_one_patient(client, assistant, clinic):
    client.force_login(assistant)
    first = client.post(NEW, form_data(phone=""))
    second = client.post(NEW, form_data(phone=""))
    assert Patient.objects.filter(clinic=clinic, name="周立新").count() == 1
    assert first.url == second.url
    # A new form (a new token) is a new patient.
    client.post(NEW, form_data(phone="", form_token="token-2"))
    assert Patient.objects.filter(clinic=clinic, name="周立新").count() == 2


def test_api_create_with_the_same_idempotency_key_makes_one_patient(api, assistant, clinic):
    client = api(assistant)
    body = {"name": "钱多多"}
    first = client.post("/api/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = client.post("/api/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Patient.objects.filter(clinic=clinic, name="钱多多").count() == 1


def test_a_known_phone_creates_nothing_and_links_the_patient(
    client, api, assistant, clinic, make_patient
):
    existing = make_patient(name="刘晓梅", phone="13912345678")
    client.force_login(assistant)
    response = client.post(NEW, form_data(phone="+86 139-1234-5678"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "本诊所已有患者使用该手机号" in page
    assert f'href="/patients/{existing.pk}/"' in page and "刘晓梅" in page
    assert Patient.objects.filter(clinic=clinic).count() == 1
    # The API says so too, with the patient's id.
    answer = api(assistant).post(
        "/api/patients/", {"name": "周立新", "phone": "13912345678"}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["errors"]["existing_patient"] == [str(existing.pk)]
    assert Patient.objects.filter(clinic=clinic).count() == 1


def test_the_same_phone_in_another_clinic_is_another_patient(
    client, assistant, clinic, other_clinic, make_patient
):
    make_patient(name="乙院患者", phone="13912345678", target_clinic=other_clinic)
    client.force_login(assistant)
    response = client.post(NEW, form_data())
    assert response.status_code == 302
    assert Patient.objects.filter(clinic=clinic, phone_masked="139****5678").count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "12345", "请输入有效的中国大陆手机号"),
        ("birth_date", "2999-01-01", "出生日期不能晚于今天"),
        ("notes", "字" * (NOTES_MAX_LENGTH + 1), f"备注最多 {NOTES_MAX_LENGTH} 个字"),
        ("name", "", "该字段是必填项"),
    ],
)
def test_bad_input_names_its_field_in_chinese_and_creates_nothing(
    client, assistant, clinic, field, value, message
):
    client.force_login(assistant)
    response = client.post(NEW, form_data(**{field: value}))
    page = response.content.decode()
    assert response.status_code == 200
    assert "未保存" in page and message in page
    # The message sits next to its field, named by its label.
    assert f'data-field="{field}"' in page
    assert not Patient.objects.filter(clinic=clinic).exists()
    # The form keeps what was typed (nothing is lost), with the same token.
    assert 'value="token-1"' in page


def test_pickers_list_only_their_roles(client, assistant, staff, clinic):
    client.force_login(assistant)
    page = client.get(NEW).content.decode()
    doctor_select = page.split('name="assigned_doctor"')[1].split("</select>")[0]
    assistant_select = page.split('name="assigned_assistant"')[1].split("</select>")[0]
    assert f'value="{staff["doctor"].pk}"' in doctor_select
    assert f'value="{staff["admin"].pk}"' not in doctor_select
    assert f'value="{staff["nurse"].pk}"' not in doctor_select
    assert f'value="{staff["assistant"].pk}"' in assistant_select
    assert f'value="{staff["doctor"].pk}"' not in assistant_select
    # A doctor id in the assistant picker is refused.
    response = client.post(NEW, form_data(assigned_assistant=str(staff["doctor"].pk)))
    assert (
        response.status_code == 200
        and 'data-field="assigned_assistant"' in response.content.decode()
    )
    assert not Patient.objects.exists()


def test_a_nurse_must_choose_one_of_her_wards(client, nurse, nurse_ward, clinic):
    from patients.models import Ward
    from patients.wards import ward_save

    other = ward_save(ward=Ward(clinic=clinic), name="二病区")
    client.force_login(nurse)
    page = client.get(NEW).content.decode()
    ward_select = page.split('name="ward"')[1].split("</select>")[0]
    assert f'value="{nurse_ward.pk}"' in ward_select and f'value="{other.pk}"' not in ward_select
    refused = client.post(NEW, form_data(ward=str(other.pk)))
    assert refused.status_code == 200 and not Patient.objects.exists()
    created = client.post(NEW, form_data(ward=str(nurse_ward.pk)))
    assert created.status_code == 302
    assert Patient.objects.get().ward == nurse_ward


def test_an_outsider_cannot_open_another_clinics_patient_forms(client, outsider, make_patient):
    patient = make_patient()
    client.force_login(outsider)
    assert client.get(f"/patients/{patient.pk}/edit/").status_code == 404
    assert client.post(f"/patients/{patient.pk}/edit/", form_data()).status_code == 404
    assert client.get(f"/patients/{patient.pk}/merge/").status_code == 404


# Editing: the phone -------------------------------------------------------------------------


def test_a_phone_change_is_audited_on_the_timeline_and_the_old_number_is_gone(
    client, api, assistant, clinic, make_patient
):
    patient = make_patient(name="王建国", phone="13800001111")
    client.force_login(assistant)
    page = client.get(f"/patients/{patient.pk}/edit/").content.decode()
    assert "138****1111" in page  # the current number, masked
    response = client.post(
        f"/patients/{patient.pk}/edit/",
        form_data(name="王建国", phone="13955552222", form_token=None),
    )
    assert response.status_code == 302 and response.url == f"/patients/{patient.pk}/"
    patient.refresh_from_db()
    assert patient.phone == "+8613955552222" and patient.phone_last4 == "2222"
    event = AuditEvent.objects.get(action=AuditAction.PHONE_CHANGE)
    assert event.user == assistant and event.object_id == str(patient.pk)
    assert event.detail == {"from": "138****1111", "to": "139****2222"}
    touch = patient.touches.get(payload__phone_change__isnull=False)
    assert touch.summary == "手机号已修改：138****1111 → 139****2222"
    assert "13800001111" not in touch.summary and "13955552222" not in str(touch.payload)
    reader = api(assistant)
    assert search(reader, "13800001111") == [] and search(reader, "1111") == []
    assert search(reader, "13955552222") == [patient.pk] and search(reader, "2222") == [patient.pk]


def test_an_empty_phone_keeps_the_number_and_nothing_unchanged_is_written(
    client, assistant, make_patient
):
    patient = make_patient(name="王建国", phone="13800001111")
    client.force_login(assistant)
    before = patient.touches.count()
    initial = {
        "name": "王建国",
        "source": patient.source,
        "consent_to_contact": "on",
    }
    response = client.post(f"/patients/{patient.pk}/edit/", initial)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.phone == "+8613800001111"
    assert patient.touches.count() == before
    assert not AuditEvent.objects.filter(action=AuditAction.PHONE_CHANGE).exists()


def test_a_phone_of_another_patient_is_refused_on_edit_with_the_link(
    client, assistant, make_patient
):
    first = make_patient(name="甲", phone="13800001111")
    second = make_patient(name="乙", phone="13800002222")
    client.force_login(assistant)
    response = client.post(
        f"/patients/{second.pk}/edit/", form_data(name="乙", phone="13800001111", form_token=None)
    )
    page = response.content.decode()
    assert response.status_code == 200 and f'href="/patients/{first.pk}/"' in page
    second.refresh_from_db()
    assert second.phone == "+8613800002222" and second.name == "乙"
    assert not AuditEvent.objects.filter(action=AuditAction.PHONE_CHANGE).exists()


def test_api_phone_change_is_audited_too(api, assistant, make_patient):
    patient = make_patient(phone="13800001111")
    response = api(assistant).patch(
        f"/api/patients/{patient.pk}/", {"phone": "13955552222"}, format="json"
    )
    assert response.status_code == 200
    assert AuditEvent.objects.get(action=AuditAction.PHONE_CHANGE).detail["to"] == "139****2222"
    bad = api(assistant).patch(f"/api/patients/{patient.pk}/", {"phone": "999"}, format="json")
    assert bad.status_code == 400 and "有效" in bad.json()["errors"]["phone"][0]
    patient.refresh_from_db()
    assert patient.phone == "+8613955552222"


# Who may edit which field: one rule -----------------------------------------------------------


def test_the_rule_table():
    def fields(role):
        return patient_editable_fields(Membership(role=role))

    assert fields(Role.ADMIN) == set(EDITABLE_FIELDS)
    assert {"name", "phone", "assigned_doctor", "notes"} <= fields(Role.ASSISTANT)
    assert "external_userid" not in fields(Role.ASSISTANT)
    assert fields(Role.NURSE) == {"ward", "bed_number", "notes"}
    assert fields(Role.DOCTOR) == {"notes"}
    assert patient_editable_fields(None) == frozenset()


@pytest.mark.parametrize(
    ("role", "field", "value", "allowed"),
    [
        ("assistant", "name", "新名字", True),
        ("doctor", "name", "新名字", False),
        ("doctor", "notes", "医生备注", True),
        ("nurse", "bed_number", "3床", True),
        ("nurse", "phone", "13955552222", False),
        ("operations", "source_detail", "抖音", False),
        ("assistant", "external_userid", "wm-x", False),
        ("admin", "external_userid", "wm-x", True),
    ],
)
def test_api_follows_the_rule(api, staff, make_patient, nurse_ward, role, field, value, allowed):
    patient = make_patient(name="旧名字", phone="13800001111", ward=nurse_ward)
    response = api(staff[role]).patch(f"/api/patients/{patient.pk}/", {field: value}, format="json")
    patient.refresh_from_db()
    if allowed:
        assert response.status_code == 200, response.json()
    else:
        assert response.status_code == 400
        assert response.json()["errors"][field] == ["您的角色不能修改此项。"]
        assert patient.name == "旧名字" and patient.phone == "+8613800001111"
        assert patient.external_userid == "" and patient.source_detail == ""


def test_page_follows_the_rule(client, staff, make_patient, nurse_ward):
    patient = make_patient(name="旧名字", phone="13800001111", ward=nurse_ward)
    client.force_login(staff["nurse"])
    page = client.get(f"/patients/{patient.pk}/edit/").content.decode()
    name_input = page.split('name="name"')[1].split(">")[0]
    bed_input = page.split('name="bed_number"')[1].split(">")[0]
    assert "disabled" in name_input and "disabled" not in bed_input
    # A posted name change (a crafted form) is ignored: disabled fields keep the record's.
    response = client.post(
        f"/patients/{patient.pk}/edit/",
        {"name": "改掉", "phone": "13955552222", "bed_number": "7床", "ward": nurse_ward.pk},
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.name == "旧名字" and patient.phone == "+8613800001111"
    assert patient.bed_number == "7床"


def test_admin_follows_the_rule(client, clinic, make_patient):
    """A superuser who is a doctor of the clinic edits in Django admin what a doctor may."""
    from django.contrib.auth import get_user_model

    patient = make_patient(name="旧名字", phone="13800001111")
    user = make_staff(clinic, Role.DOCTOR, "super-doctor")
    get_user_model().objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
    second_factor_enrol(user)  # a superuser signs in with a second factor
    client.force_login(user)
    url = f"/admin/patients/patient/{patient.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="notes"' in page and 'name="name"' not in page and 'name="phone"' not in page
    response = client.post(url, {"notes": "医生备注", "name": "改掉", "source": "walk_in"})
    assert response.status_code == 302, response.content.decode()[:2000]
    patient.refresh_from_db()
    assert patient.notes == "医生备注" and patient.name == "旧名字"


def test_a_clinic_admin_changes_the_phone_in_admin_audited(client, admin_user, make_patient):
    patient = make_patient(name="王建国", phone="13800001111")
    client.force_login(admin_user)
    url = f"/admin/patients/patient/{patient.pk}/change/"
    data = {"name": "王建国", "source": "walk_in", "consent_to_contact": "on"}
    bad = client.post(url, {**data, "phone": "12"})
    assert bad.status_code == 200 and "请输入有效的中国大陆手机号" in bad.content.decode()
    response = client.post(url, {**data, "phone": "13955552222"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.phone == "+8613955552222"
    assert AuditEvent.objects.get(action=AuditAction.PHONE_CHANGE).user == admin_user
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    refused = client.post(url, {**data, "birth_date": future})
    assert refused.status_code == 200 and "出生日期不能晚于今天" in refused.content.decode()
    patient.refresh_from_db()
    assert patient.birth_date is None


# Notes and the stage --------------------------------------------------------------------------


def test_a_note_over_the_limit_is_refused_not_cut(api, assistant, make_patient):
    patient = make_patient()
    url = f"/api/patients/{patient.pk}/timeline/"
    long = "字" * (NOTE_MAX_LENGTH + 1)
    response = api(assistant).post(url, {"kind": "note", "summary": long}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["summary"] == [
        f"备注最多 {NOTE_MAX_LENGTH} 个字（现在 {NOTE_MAX_LENGTH + 1} 个），未保存。"
    ]
    assert not patient.touches.filter(kind=TouchKind.NOTE).exists()
    ok = api(assistant).post(
        url, {"kind": "note", "summary": "第一行\n第二行" + "字" * 400}, format="json"
    )
    assert ok.status_code == 201
    assert patient.touches.get(kind=TouchKind.NOTE).summary.startswith("第一行\n第二行")


def test_the_timeline_service_refuses_a_long_note_rather_than_cut_it(make_patient):
    from django.core.exceptions import ValidationError

    patient = make_patient()
    with pytest.raises(ValidationError) as error:
        timeline.touch_record(patient=patient, kind=TouchKind.NOTE, summary="字" * 501)
    assert "summary" in error.value.message_dict
    assert not Touch.objects.filter(patient=patient, kind=TouchKind.NOTE).exists()


def test_profile_notes_over_the_limit_are_refused_by_the_service(make_patient):
    from django.core.exceptions import ValidationError

    patient = make_patient()
    with pytest.raises(ValidationError) as error:
        services.patient_update(patient=patient, notes="字" * (NOTES_MAX_LENGTH + 1))
    assert "notes" in error.value.message_dict
    patient.refresh_from_db()
    assert patient.notes == ""


def test_the_same_stage_says_so_and_writes_nothing(api, assistant, make_patient):
    patient = make_patient()
    before = StageTransition.objects.filter(patient=patient).count()
    response = api(assistant).post(
        f"/api/patients/{patient.pk}/stage/", {"stage": patient.stage}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["stage"] == ["患者已处于“引流”阶段，未作更改。"]
    assert StageTransition.objects.filter(patient=patient).count() == before


def test_the_patient_page_has_the_counter_and_no_cutting_maxlength(client, assistant, make_patient):
    patient = make_patient()
    client.force_login(assistant)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    note = page.split('id="n-summary"')[1].split(">")[0]
    assert f'data-limit="{NOTE_MAX_LENGTH}"' in note and "maxlength" not in note
    assert 'data-counter-for="n-summary"' in page
    assert "编辑资料" in page and "合并重复档案" in page
