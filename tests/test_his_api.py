from datetime import date

import pytest
from rest_framework.test import APIClient

from crm.api_tokens import api_token_create
from followups import services as followup_services
from followups.models import Action, CarePlan, Trigger
from patients.choices import TouchKind
from patients.models import Patient, Touch, Visit
from tests.followups_factories import step

pytestmark = pytest.mark.django_db


@pytest.fixture
def his(assistant):
    client = APIClient()
    key = api_token_create(membership=assistant.memberships.get())
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT_LANGUAGE="zh-hans")
    return client


def post(client, *rows):
    return client.post("/api/his/visits/", {"visits": list(rows)}, format="json")


def test_a_visit_posted_twice_counts_once_and_starts_its_plan_once(his, clinic, make_patient):
    template = followup_services.template_create(
        clinic=clinic,
        name="复诊后满意度",
        trigger=Trigger.VISIT_RECORDED,
        trigger_visit_kind="revisit",
        steps=[step("满意度调查", 3, Action.SURVEY, message="{name}您好，请评价本次就诊。")],
    )
    patient = make_patient(phone="13800138000")
    row = {
        "his_visit_id": "V-1001",
        "his_patient_id": "P-77",
        "phone": "138 0013 8000",
        "visit_date": "2026-12-01",
        "kind": "revisit",
        "amount": "120.50",
    }
    first = post(his, row)
    assert first.status_code == 200, first.content
    assert first.json()["created"] == 1
    again = post(his, row)
    assert again.json() == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "unmatched": [],
        "errors": [],
    }
    assert Visit.objects.filter(patient=patient).count() == 1
    assert Touch.objects.filter(patient=patient, kind=TouchKind.VISIT).count() == 1
    patient.refresh_from_db()
    assert patient.last_visit_date == date(2026, 12, 1)
    # The phone match taught the patient its HIS id; the next row can name only that.
    assert patient.his_patient_id == "P-77"
    assert followup_services.triggers_scan()["started"] == 1
    post(his, {**row, "phone": "", "notes": "复诊"})
    assert followup_services.triggers_scan()["started"] == 0
    assert CarePlan.objects.filter(template=template, patient=patient).count() == 1
    assert Visit.objects.get(patient=patient).notes == "复诊"


def test_unmatched_and_bad_rows_are_reported_per_row_in_chinese(his, make_patient):
    make_patient(phone="13800138001")
    response = post(
        his,
        {"his_visit_id": "V-1", "phone": "13900000000", "visit_date": "2026-12-01"},
        {"his_visit_id": "V-2", "phone": "13800138001", "visit_date": "12/01/2026"},
        {"his_visit_id": "V-3", "phone": "13800138001", "visit_date": "2026-12-01", "kind": "x"},
        {"his_visit_id": "V-4", "phone": "13800138001", "visit_date": "2026-12-01"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["created"] == 1
    assert [u["row"] for u in body["unmatched"]] == [1]
    assert "患者" in body["unmatched"][0]["error"]
    assert [e["row"] for e in body["errors"]] == [2, 3]
    assert "日期" in body["errors"][0]["error"]


def test_not_a_list_is_a_clear_400(his):
    response = his.post("/api/his/visits/", {"visits": "V-1"}, format="json")
    assert response.status_code == 400
    assert "列表" in response.content.decode()


def test_another_clinics_patient_is_never_matched(his, make_patient, other_clinic):
    make_patient(phone="13800138002", target_clinic=other_clinic)
    body = post(
        his, {"his_visit_id": "V-9", "phone": "13800138002", "visit_date": "2026-12-01"}
    ).json()
    assert body["created"] == 0 and len(body["unmatched"]) == 1
    assert not Visit.objects.exists()
    assert Patient.objects.filter(his_patient_id="").count() == 1


def test_no_token_no_entry():
    assert APIClient().post("/api/his/visits/", {"visits": []}, format="json").status_code in (
        401,
        403,
    )


def test_an_appointment_posted_twice_is_booked_once(his, make_patient, doctor):
    from datetime import timedelta

    from django.utils import timezone

    from followups.appointment_models import Appointment

    patient = make_patient(phone="13800138003", assigned_doctor=doctor)
    start = (timezone.localtime() + timedelta(days=2)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    row = {"his_appointment_id": "A-1", "phone": "13800138003", "start": start.isoformat()}
    bad = {"his_appointment_id": "A-2", "phone": "13800138003", "start": "明天"}
    past = {**row, "his_appointment_id": "A-3", "start": "2020-01-01T10:00"}
    first = his.post("/api/his/appointments/", {"appointments": [row, bad, past]}, format="json")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["created"] == 1
    assert [e["row"] for e in body["errors"]] == [2, 3]
    assert "预约时间" in body["errors"][0]["error"]
    again = his.post("/api/his/appointments/", {"appointments": [row]}, format="json").json()
    assert again["created"] == 0 and again["unchanged"] == 1
    assert Appointment.objects.filter(patient=patient, his_appointment_id="A-1").count() == 1
