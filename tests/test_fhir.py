from datetime import date, timedelta

import pytest
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from crm.api_tokens import api_token_create
from crm.models import AuditAction, AuditEvent
from followups import services as followup_services
from followups.appointments import appointment_book
from followups.models import Action, Trigger
from patients.models import Patient
from patients.services import visit_record
from tests.followups_factories import step
from wechat.models import DeliveryChannel
from wechat.outbox import delivery_enqueue

pytestmark = pytest.mark.django_db


def with_his_id(patient, his_patient_id):
    Patient.objects.filter(pk=patient.pk).update(his_patient_id=his_patient_id)
    patient.refresh_from_db()
    return patient


@pytest.fixture
def fhir(assistant):
    client = APIClient()
    key = api_token_create(membership=assistant.memberships.get())
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT_LANGUAGE="zh-hans")
    return client


def references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_everything_bundle_validates_and_its_references_resolve(fhir, clinic, make_patient, doctor):
    followup_services.template_create(
        clinic=clinic,
        name="复诊后满意度",
        trigger=Trigger.VISIT_RECORDED,
        trigger_visit_kind="revisit",
        steps=[step("满意度调查", 3, Action.SURVEY, message="{name}您好，请评价本次就诊。")],
    )
    patient = with_his_id(make_patient(name="王五"), "P-1")
    visit_record(patient=patient, visit_date=date(2026, 12, 1), kind="revisit", his_visit_id="V1")
    followup_services.triggers_scan()
    start = timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0)
    appointment_book(patient=patient, doctor=doctor, start=start + timedelta(days=2))
    delivery_enqueue(
        clinic=clinic, key="fhir-test", channel=DeliveryChannel.CUSTOMER_MESSAGE,
        recipient="wmWANGWU", body="王五您好，请填写 https://x.cn/r/s/SECRET-token-123/ 。",
        patient=patient, sender="wx-assistant",
    )  # fmt: skip
    response = fhir.get(f"/fhir/Patient/{patient.pk}/$everything")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/fhir+json"
    bundle = Bundle.model_validate_json(response.content)
    body = response.json()
    kinds = [e["resource"]["resourceType"] for e in body["entry"]]
    assert {"Patient", "Encounter", "Appointment", "CarePlan", "Task", "Communication"} <= set(
        kinds
    )
    [message] = [
        e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "Communication"
    ]
    assert (
        message["status"] == "preparation"
        and message["subject"]["reference"] == f"Patient/{patient.pk}"
    )
    assert message["payload"][0]["contentString"] == "王五您好，请填写 https://x.cn/r/s/… 。"
    for entry in body["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
        assert entry["fullUrl"].endswith(
            f"/fhir/{entry['resource']['resourceType']}/{entry['resource']['id']}"
        )
    ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in body["entry"]}
    refs = set(references(body["entry"]))
    assert refs and refs <= ids
    assert "Task" in {r.split("/")[0] for r in refs}  # the CarePlan names its tasks
    assert bundle.total == len(body["entry"])
    event = AuditEvent.objects.get(action=AuditAction.EXPORT, object_id=str(patient.pk))
    assert event.detail["format"] == "fhir"


def test_another_clinics_patient_is_a_404(fhir, make_patient, other_clinic):
    stranger = with_his_id(make_patient(target_clinic=other_clinic), "P-2")
    assert fhir.get(f"/fhir/Patient/{stranger.pk}/$everything").status_code == 404
    found = fhir.get("/fhir/Patient", {"identifier": "P-2"}).json()
    assert found["total"] == 0


def test_search_by_his_identifier(fhir, make_patient):
    patient = with_his_id(make_patient(), "P-3")
    response = fhir.get("/fhir/Patient", {"identifier": "P-3"})
    assert response.status_code == 200
    body = Bundle.model_validate_json(response.content)
    assert [e.resource.id for e in body.entry] == [str(patient.pk)]
    missing = fhir.get("/fhir/Patient")
    assert missing.status_code == 400 and "标识" in missing.content.decode()


def test_no_token_no_fhir(make_patient):
    patient = make_patient()
    assert APIClient().get(f"/fhir/Patient/{patient.pk}/$everything").status_code in (401, 403)
