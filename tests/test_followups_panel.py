"""The patient list's has_open_followups filter and what the patient page's follow-ups panel
reads and writes through the API: open tasks with their assignee, starting a plan (with its
timeline entry), and the errors a person sees. Outsiders and other wards see nothing."""

from datetime import timedelta

import pytest

from crm.models import Role
from followups import clock, services
from followups.models import CarePlan
from patients.choices import TouchKind
from patients.models import Touch
from tests.conftest import make_staff
from tests.followups_factories import post_op_template

pytestmark = pytest.mark.django_db

LIST = "/api/patients/"


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def start(patient, template, days_ago=1):
    plan, _ = services.plan_start(
        patient=patient,
        template=template,
        anchor_date=clock.local_today() - timedelta(days=days_ago),
    )
    return plan


@pytest.fixture
def patients(clinic, make_patient, assistant):
    """甲: a plan with three open tasks; 乙: its only task done; 丙: a stopped plan (tasks
    cancelled); 丁: never had a task."""
    template = post_op_template(clinic)
    jia = make_patient(name="甲")
    start(jia, template)
    yi = make_patient(name="乙")
    task = services.task_create(patient=yi, title="回访", role=Role.ASSISTANT)
    services.followup_complete(task=task, by=assistant, outcome="reached")
    bing = make_patient(name="丙")
    services.plan_stop(plan=start(bing, template), reason="患者转院")
    ding = make_patient(name="丁")
    return {"甲": jia, "乙": yi, "丙": bing, "丁": ding}


def test_filter_true_false_and_any(api, assistant, patients):
    client = api(assistant)
    everyone = {p.pk for p in patients.values()}
    with_open = client.get(f"{LIST}?has_open_followups=true")
    # Three open tasks, one row: an EXISTS, not a join.
    assert ids(with_open) == {patients["甲"].pk} and with_open.json()["count"] == 1
    assert ids(client.get(f"{LIST}?has_open_followups=false")) == everyone - {patients["甲"].pk}
    assert ids(client.get(f"{LIST}?has_open_followups=")) == everyone
    assert ids(client.get(LIST)) == everyone
    # The stage counts and the export read the same filters.
    counts = client.get(f"{LIST}counts/?has_open_followups=true").json()
    assert counts == {"total": 1, "by_stage": {"lead": 1}}
    export = client.get(f"{LIST}export/?file=csv&has_open_followups=false")
    body = b"".join(export.streaming_content).decode("utf-8")
    assert "乙" in body and "甲" not in body


def test_filter_combines_with_the_others(api, assistant, clinic, patients, make_patient):
    template = post_op_template(clinic, name="复查")
    booked = make_patient(name="戊", stage="booked")
    start(booked, template)
    client = api(assistant)
    assert ids(client.get(f"{LIST}?has_open_followups=true&stage=booked")) == {booked.pk}
    assert ids(client.get(f"{LIST}?has_open_followups=true&q=甲")) == {patients["甲"].pk}


@pytest.mark.parametrize("value", ["yes", "1", "TRUE", "open"])
def test_invalid_value_is_a_400_in_chinese(api, assistant, patients, value):
    for url in (LIST, f"{LIST}counts/"):
        response = api(assistant).get(f"{url}?has_open_followups={value}")
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid"
        error = body["errors"]["has_open_followups"][0]
        assert value in error and "有效的选项" in error


def test_other_clinics_tasks_and_patients_stay_apart(
    api, assistant, outsider, other_clinic, patients, make_patient
):
    theirs = make_patient(name="外院患者", target_clinic=other_clinic)
    start(theirs, post_op_template(other_clinic))
    assert ids(api(assistant).get(f"{LIST}?has_open_followups=true")) == {patients["甲"].pk}
    assert ids(api(outsider).get(f"{LIST}?has_open_followups=true")) == {theirs.pk}
    assert ids(api(outsider).get(f"{LIST}?has_open_followups=false")) == set()


def test_nurse_filters_only_her_wards_patients(api, nurse, nurse_ward, clinic, make_patient):
    template = post_op_template(clinic)
    mine_open = make_patient(name="病区甲", ward=nurse_ward)
    start(mine_open, template)
    mine_quiet = make_patient(name="病区乙", ward=nurse_ward)
    elsewhere = make_patient(name="门诊丙")
    start(elsewhere, template)
    client = api(nurse)
    assert ids(client.get(f"{LIST}?has_open_followups=true")) == {mine_open.pk}
    assert ids(client.get(f"{LIST}?has_open_followups=false")) == {mine_quiet.pk}
    counts = client.get(f"{LIST}counts/?has_open_followups=true").json()
    assert counts["total"] == 1


def test_schema_documents_the_parameter(api, assistant):
    schema = api(assistant).get("/api/schema/?format=json").json()
    params = {p["name"]: p for p in schema["paths"]["/api/patients/"]["get"]["parameters"]}
    assert params["has_open_followups"]["schema"] == {"type": "string", "enum": ["false", "true"]}
    task = schema["components"]["schemas"]["FollowUpTask"]["properties"]
    assert {"assignee_name", "role_display"} <= set(task)


# What the panel reads -----------------------------------------------------------------


def test_open_tasks_of_a_patient_name_their_assignee(api, assistant, clinic, make_patient):
    template = post_op_template(clinic)
    own = make_patient(name="有助理", assigned_assistant=assistant)
    pool = make_patient(name="无助理")
    # Started today: the first task is due tomorrow, so it is not overdue at any hour of the run
    # (started yesterday, it would be overdue after its window's 18:00 end).
    start(own, template, days_ago=0)
    start(pool, template, days_ago=0)
    client = api(assistant)
    rows = client.get(f"/api/followup-tasks/?patient={own.pk}&status=open").json()["results"]
    assert [r["title"] for r in rows] == [
        "术后第1天电话随访",
        "术后第7天复查提醒",
        "术后第30天电话随访",
    ]
    assert {r["assignee_name"] for r in rows} == {assistant.memberships.get().name}
    assert rows[0]["is_overdue"] is False and rows[0]["plan_name"] == "术后随访"
    rows = client.get(f"/api/followup-tasks/?patient={pool.pk}&status=open").json()["results"]
    assert {(r["assignee_name"], r["role_display"]) for r in rows} == {("", "医生助理")}


# Starting a plan from the page ------------------------------------------------------------


def test_start_writes_the_tasks_and_the_timeline_entry(api, assistant, clinic, make_patient):
    template = post_op_template(clinic)
    patient = make_patient(name="新患者")
    client = api(assistant)
    body = {"patient": patient.pk, "template": template.pk, "anchor_date": "2026-03-01"}
    created = client.post("/api/care-plans/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["template_name"] == "术后随访"
    tasks = client.get(f"/api/followup-tasks/?patient={patient.pk}&status=open").json()
    assert tasks["count"] == 3
    touch = Touch.objects.get(patient=patient, kind=TouchKind.FOLLOWUP)
    assert touch.summary == "随访计划已启动：术后随访（自 2026-03-01 起）"
    assert touch.actor_id == assistant.pk and touch.payload["event"] == "plan_started"
    plans = client.get(f"/api/care-plans/?patient={patient.pk}&status=active").json()
    assert [p["template_name"] for p in plans["results"]] == ["术后随访"]

    again = client.post("/api/care-plans/", body, format="json")
    assert again.status_code == 400
    assert again.json()["message"] == "该患者已从这一天启动过此随访计划。"
    assert CarePlan.objects.filter(patient=patient).count() == 1
    assert Touch.objects.filter(patient=patient, kind=TouchKind.FOLLOWUP).count() == 1


def test_start_errors_are_in_chinese_and_change_nothing(
    api, staff, clinic, other_clinic, nurse, nurse_ward, make_patient
):
    template = post_op_template(clinic)
    patient = make_patient(name="门诊患者")
    missing = api(staff["assistant"]).post(
        "/api/care-plans/", {"patient": patient.pk, "template": None, "anchor_date": None}
    )
    assert missing.status_code == 400
    assert missing.json()["errors"]["template"] == ["该字段不能为 null。"]
    foreign = api(staff["assistant"]).post(
        "/api/care-plans/",
        {
            "patient": patient.pk,
            "template": post_op_template(other_clinic).pk,
            "anchor_date": "2026-03-01",
        },
    )
    assert foreign.status_code == 400 and "template" in foreign.json()["errors"]
    # A nurse starts plans only for her wards' patients: another one does not exist for her.
    outside = api(nurse).post(
        "/api/care-plans/",
        {"patient": patient.pk, "template": template.pk, "anchor_date": "2026-03-01"},
    )
    assert outside.status_code == 400 and "patient" in outside.json()["errors"]
    operations = api(staff["operations"]).post(
        "/api/care-plans/",
        {"patient": patient.pk, "template": template.pk, "anchor_date": "2026-03-01"},
    )
    assert operations.status_code == 403
    assert not CarePlan.objects.exists()


# The pages ----------------------------------------------------------------------------


def test_patient_page_has_the_panel_and_the_form_for_those_who_may_start(
    client, staff, clinic, make_patient
):
    patient = make_patient(name="页面患者")
    client.force_login(staff["assistant"])
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'data-testid="followups"' in page and 'data-testid="plan-start"' in page
    assert f'data-patient="{patient.pk}"' in page
    assert f'value="{clock.local_today().isoformat()}"' in page  # day 0: today, clinic time
    assert "启用随访计划后" not in page  # the old placeholder
    client.force_login(make_staff(clinic, Role.OPERATIONS, "ops2"))
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'data-testid="followups"' in page and 'data-testid="plan-start"' not in page


def test_workbench_keeps_the_followups_filter_from_the_url(client, assistant):
    client.force_login(assistant)
    page = client.get("/workbench/?has_open_followups=false").content.decode()
    assert 'name="has_open_followups"' in page
    assert '<option value="false" selected>无待办随访</option>' in page
