"""Operations works on what marketing needs and sees nothing clinical (README: role × data): no
amounts paid on the dashboard, no follow-up notes, and no calls, notes or visits to record —
the API refuses them and the patient page does not offer them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from followups import clock
from followups import services as followups
from followups.models import FollowUpTask
from patients import services
from patients.models import Touch, Visit
from tests.followups_factories import post_op_template

pytestmark = pytest.mark.django_db


def test_the_dashboard_leaves_the_amounts_out_for_operations(api, staff, make_patient):
    patient = make_patient()
    services.visit_record(
        patient=patient,
        visit_date=timezone.localdate() - timedelta(days=1),
        kind="first",
        amount=Decimal("300.00"),
        actor=staff["doctor"],
    )
    [admin_row] = api(staff["admin"]).get("/api/dashboard/").json()["cohorts"]
    assert admin_row["amount"] == "300.00" and admin_row["amount_per_patient"] == "300.00"
    response = api(staff["operations"]).get("/api/dashboard/")
    assert response.status_code == 200
    [row] = response.json()["cohorts"]
    assert row["amount"] is None and row["amount_per_patient"] is None
    assert row["patients"] == 1 and row["visits_per_patient"] == 1  # the rest stays


def test_follow_up_notes_are_blank_for_operations(api, staff, clinic, make_patient):
    patient = make_patient()
    followups.plan_start(
        patient=patient, template=post_op_template(clinic), anchor_date=clock.local_today()
    )
    task = FollowUpTask.objects.filter(patient=patient).order_by("due_at").first()
    followups.followup_complete(
        task=task, by=staff["assistant"], outcome="reached", notes="伤口红肿"
    )
    url = f"/api/followup-tasks/?patient={patient.pk}"

    def notes(user):
        response = api(user).get(url)
        assert response.status_code == 200
        return {row["id"]: row["notes"] for row in response.json()["results"]}

    assert notes(staff["assistant"])[task.pk] == "伤口红肿"
    assert notes(staff["operations"])[task.pk] == ""
    assert (
        "伤口红肿"
        not in api(staff["operations"]).get(f"/api/followup-tasks/{task.pk}/").content.decode()
    )


def test_operations_may_not_record_calls_notes_or_visits(api, staff, make_patient):
    patient = make_patient()
    client = api(staff["operations"])
    base = f"/api/patients/{patient.pk}/"
    note = client.post(base + "timeline/", {"kind": "note", "summary": "想来做活动"}, format="json")
    call = client.post(
        base + "timeline/",
        {"kind": "call", "outcome": "reached", "summary": "已联系"},
        format="json",
    )
    visit = client.post(
        base + "visits/", {"visit_date": "2026-01-05", "kind": "revisit"}, format="json"
    )
    for response in (note, call, visit):
        assert response.status_code == 403, response.content.decode()
        assert response.json()["message"] == "您的角色不能记录电话、备注或就诊。"
    assert not Touch.objects.filter(patient=patient, kind__in=["note", "call"]).exists()
    assert not Visit.objects.filter(patient=patient).exists()
    # The assistant still records them.
    ok = api(staff["assistant"]).post(
        base + "timeline/", {"kind": "note", "summary": "好"}, format="json"
    )
    assert ok.status_code == 201


def test_the_patient_page_offers_operations_no_call_note_or_visit_form(client, staff, make_patient):
    patient = make_patient()
    client.force_login(staff["operations"])
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    for form in ('id="call-form"', 'id="note-form"', 'id="visit-form"'):
        assert form not in page
    client.force_login(staff["assistant"])
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    for form in ('id="call-form"', 'id="note-form"', 'id="visit-form"'):
        assert form in page
