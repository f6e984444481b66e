"""Starting one care plan for a selection of patients (the workbench's bulk action): the service
(new, already started, bad templates, a nurse's ward, the limit, all or nothing, constant
queries) and POST /api/care-plans/bulk/ (roles, the Chinese 400s, clinic isolation)."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Membership
from followups import clock, services
from followups.models import CarePlan, CarePlanTemplate, FollowUpTask
from patients.bulk import BULK_MAX_PATIENTS
from patients.choices import TouchKind
from patients.models import Patient, Touch
from tests.conftest import make_staff
from tests.followups_factories import post_op_template, step

pytestmark = pytest.mark.django_db

DAY0 = date(2026, 11, 20)
URL = "/api/care-plans/bulk/"


def membership(user):
    return Membership.objects.select_related("user").get(user=user)


def started_touches(patient):
    return list(
        Touch.objects.filter(
            patient=patient, kind=TouchKind.FOLLOWUP, payload__event="plan_started"
        ).values_list("summary", flat=True)
    )


@pytest.fixture
def template(clinic):
    return post_op_template(clinic)


def test_starts_the_plan_for_every_patient_with_its_tasks_and_one_timeline_entry(
    clinic, assistant, doctor, make_patient, template
):
    Membership.objects.filter(user=doctor).update(display_name="王医生")
    first = make_patient(name="赵一", assigned_doctor=doctor)
    second = make_patient(name="钱二")
    result = services.plan_start_bulk(
        membership=membership(assistant),
        patient_ids=[first.pk, second.pk],
        template=template,
        anchor_date=DAY0,
    )
    assert [p.patient_id for p in result.started] == [first.pk, second.pk]
    assert result.already_started == []
    for patient in (first, second):
        plan = CarePlan.objects.get(patient=patient)
        assert plan.template == template and plan.anchor_date == DAY0
        assert plan.started_by == assistant and plan.version == template.current_version
        assert [t.title for t in plan.tasks.order_by("step_index")] == [
            "术后第1天电话随访",
            "术后第7天复查提醒",
            "术后第30天电话随访",
        ]
        assert started_touches(patient) == ["随访计划已启动：术后随访（自 2026-11-20 起）"]
    first_call = FollowUpTask.objects.get(patient=first, step_index=0)
    assert clock.local(first_call.due_at).date() == DAY0 + timedelta(days=1)
    reminder = FollowUpTask.objects.get(patient=first, step_index=1)
    assert reminder.message == "赵一您好，请于11月27日来院复查。"
    touch = Touch.objects.get(patient=first, payload__event="plan_started")
    plan = CarePlan.objects.get(patient=first)
    assert touch.actor == assistant
    assert touch.payload.pop("wording")["args"] == {"plan": "术后随访", "date": "2026-11-20"}
    assert touch.payload == {
        "plan_id": plan.pk,
        "template_id": template.pk,
        "event": "plan_started",
    }


def test_the_bulk_tasks_equal_those_of_a_single_start(clinic, assistant, doctor, make_patient):
    """Same rows as plan_start, including the doctor's name in a message."""
    Membership.objects.filter(user=doctor).update(display_name="王医生")
    template = services.template_create(
        clinic=clinic,
        name="复诊提醒",
        steps=[step("提醒", 3, "re_exam", message="{name}，{doctor}请您{date}复诊（{clinic}）")],
    )
    single = make_patient(name="孙三", assigned_doctor=doctor)
    bulk = make_patient(name="孙三", assigned_doctor=doctor)
    services.plan_start(patient=single, template=template, anchor_date=DAY0)
    services.plan_start_bulk(
        membership=membership(assistant), patient_ids=[bulk.pk], template=template, anchor_date=DAY0
    )
    fields = ["title", "action", "assignee_id", "role", "due_at", "window_end", "message"]
    fields += ["reminder_state", "status"]
    rows = [
        list(FollowUpTask.objects.filter(patient=p).order_by("step_index").values(*fields))
        for p in (single, bulk)
    ]
    assert rows[0] == rows[1]
    assert "王医生" in rows[1][0]["message"]
    assert started_touches(single) == started_touches(bulk)


def test_a_patient_who_has_the_plan_from_that_day_is_already_started(
    clinic, assistant, make_patient, template
):
    earlier = make_patient(name="李四")
    new = make_patient(name="周五")
    existing, _ = services.plan_start(patient=earlier, template=template, anchor_date=DAY0)
    result = services.plan_start_bulk(
        membership=membership(assistant),
        patient_ids=[earlier.pk, new.pk],
        template=template,
        anchor_date=DAY0,
    )
    assert [p.patient_id for p in result.started] == [new.pk]
    assert result.already_started == [existing]
    assert CarePlan.objects.filter(patient=earlier).count() == 1
    assert len(started_touches(earlier)) == 1  # no second entry
    # Another day 0 is another plan.
    again = services.plan_start_bulk(
        membership=membership(assistant),
        patient_ids=[earlier.pk],
        template=template,
        anchor_date=DAY0 + timedelta(days=1),
    )
    assert len(again.started) == 1 and again.already_started == []


def nothing_written():
    return not CarePlan.objects.exists() and not Touch.objects.filter(kind="followup").exists()


def test_bad_templates_start_nothing(clinic, other_clinic, assistant, make_patient, template):
    patient = make_patient()
    who = membership(assistant)
    theirs = post_op_template(other_clinic)
    inactive = post_op_template(clinic, name="停用的计划")
    CarePlanTemplate.objects.filter(pk=inactive.pk).update(is_active=False)
    inactive.refresh_from_db()
    empty = CarePlanTemplate.objects.create(clinic=clinic, name="空计划")
    for bad, message in [
        (theirs, "该随访计划属于其他诊所。"),
        (inactive, "该随访计划模板已停用。"),
        (empty, "该随访计划还没有步骤。"),
    ]:
        with pytest.raises(ValidationError) as error:
            services.plan_start_bulk(
                membership=who, patient_ids=[patient.pk], template=bad, anchor_date=DAY0
            )
        assert error.value.message_dict == {"template": [message]}
    assert nothing_written()


def test_a_nurse_starts_plans_only_for_her_wards_patients(
    clinic, nurse, nurse_ward, make_patient, template
):
    mine = make_patient(name="病区内", ward=nurse_ward)
    elsewhere = make_patient(name="病区外")
    who = membership(nurse)
    with pytest.raises(ValidationError) as error:
        services.plan_start_bulk(
            membership=who, patient_ids=[mine.pk, elsewhere.pk], template=template, anchor_date=DAY0
        )
    assert error.value.message_dict == {"patients": ["部分所选患者不存在。"]}
    assert nothing_written()  # all or nothing: not even her own patient's plan
    result = services.plan_start_bulk(
        membership=who, patient_ids=[mine.pk], template=template, anchor_date=DAY0
    )
    assert [p.patient_id for p in result.started] == [mine.pk]


def test_another_clinics_patient_starts_nothing(
    clinic, other_clinic, assistant, make_patient, template
):
    ours = make_patient(name="本院")
    theirs = make_patient(name="外院", target_clinic=other_clinic)
    with pytest.raises(ValidationError) as error:
        services.plan_start_bulk(
            membership=membership(assistant),
            patient_ids=[ours.pk, theirs.pk],
            template=template,
            anchor_date=DAY0,
        )
    assert error.value.message_dict == {"patients": ["部分所选患者不存在。"]}
    assert nothing_written()


def test_the_limit_and_an_empty_selection(clinic, assistant, template):
    who = membership(assistant)
    too_many = range(1, BULK_MAX_PATIENTS + 2)
    with pytest.raises(ValidationError) as error:
        services.plan_start_bulk(
            membership=who, patient_ids=too_many, template=template, anchor_date=DAY0
        )
    assert error.value.message_dict == {"patients": [f"一次最多选择 {BULK_MAX_PATIENTS} 位患者。"]}
    with pytest.raises(ValidationError) as error:
        services.plan_start_bulk(
            membership=who, patient_ids=[], template=template, anchor_date=DAY0
        )
    assert error.value.message_dict == {"patients": ["请至少选择一位患者。"]}


def test_queries_do_not_grow_with_the_selection(clinic, assistant, doctor, make_patient, template):
    def count_queries(n, day):
        patients = [make_patient(name=f"患者{i}", assigned_doctor=doctor) for i in range(n)]
        # One of them already has the plan: the "already started" path is counted too.
        services.plan_start(patient=patients[0], template=template, anchor_date=day)
        who = membership(assistant)
        with CaptureQueriesContext(connection) as queries:
            result = services.plan_start_bulk(
                membership=who,
                patient_ids=[p.pk for p in patients],
                template=template,
                anchor_date=day,
            )
        assert len(result.started) == n - 1 and len(result.already_started) == 1
        return len(queries)

    assert count_queries(3, DAY0) == count_queries(30, DAY0 + timedelta(days=1))


# The API: POST /api/care-plans/bulk/


def test_api_starts_and_counts_the_already_started(api, clinic, assistant, make_patient, template):
    first, second = make_patient(name="赵一"), make_patient(name="钱二")
    services.plan_start(patient=first, template=template, anchor_date=DAY0)
    response = api(assistant).post(
        URL,
        {"template": template.pk, "anchor_date": "2026-11-20", "patients": [first.pk, second.pk]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"selected": 2, "started": 1, "already_started": 1}
    assert CarePlan.objects.get(patient=second).started_by == assistant


def test_api_day_0_defaults_to_today_in_clinic_time(api, assistant, make_patient, template):
    patient = make_patient()
    response = api(assistant).post(
        URL, {"template": template.pk, "patients": [patient.pk]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert CarePlan.objects.get(patient=patient).anchor_date == clock.local_today()


@pytest.mark.parametrize("role", ["admin", "doctor", "assistant", "nurse"])
def test_api_roles_that_may_start_plans(
    api, staff, clinic, nurse_ward, make_patient, template, role
):
    patient = make_patient(ward=nurse_ward)
    response = api(staff[role]).post(
        URL, {"template": template.pk, "anchor_date": "2026-11-20", "patients": [patient.pk]}
    )
    assert response.status_code == 200, response.content
    assert response.json()["started"] == 1


def test_api_operations_may_not_start_plans(api, clinic, make_patient, template):
    operations = make_staff(clinic, "operations", "ops")
    patient = make_patient()
    response = api(operations).post(
        URL, {"template": template.pk, "patients": [patient.pk]}, format="json"
    )
    assert response.status_code == 403
    assert not CarePlan.objects.exists()


def test_api_bad_input_is_a_400_in_chinese(api, clinic, assistant, make_patient, template):
    patient = make_patient()
    client = api(assistant)

    def post(body):
        response = client.post(URL, body, format="json")
        assert response.status_code == 400, response.content
        return response.json()

    missing = post({})
    assert missing["code"] == "invalid"
    assert missing["errors"] == {"template": ["该字段是必填项。"], "patients": ["该字段是必填项。"]}
    empty = post({"template": template.pk, "patients": []})
    assert empty["errors"] == {"patients": ["列表不能为空。"]}
    unknown = post({"template": template.pk, "patients": [patient.pk, 999999]})
    assert unknown == {
        "code": "invalid",
        "message": "请修正以下错误。",
        "errors": {"patients": ["部分所选患者不存在。"]},
    }
    bad_day = post({"template": template.pk, "anchor_date": "明天", "patients": [patient.pk]})
    assert list(bad_day["errors"]) == ["anchor_date"]
    assert "日期格式错误" in bad_day["errors"]["anchor_date"][0]
    too_many = post({"template": template.pk, "patients": list(range(1, BULK_MAX_PATIENTS + 2))})
    assert too_many["errors"] == {"patients": [f"该字段不能超过 {BULK_MAX_PATIENTS} 个元素。"]}
    CarePlanTemplate.objects.filter(pk=template.pk).update(is_active=False)
    inactive = post({"template": template.pk, "patients": [patient.pk]})
    assert inactive["errors"] == {"template": ["该随访计划模板已停用。"]}
    assert not CarePlan.objects.exists()


def test_api_clinic_isolation(api, clinic, other_clinic, assistant, outsider, make_patient):
    ours = make_patient(name="本院")
    our_template = post_op_template(clinic)
    their_template = post_op_template(other_clinic)
    theirs = make_patient(name="外院", target_clinic=other_clinic)
    # Our template and our patient are nonexistent to the outsider, and theirs to us.
    response = api(outsider).post(
        URL, {"template": our_template.pk, "patients": [ours.pk]}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["template"]
    assert response.json()["errors"]["template"][0].startswith("无效主键")
    response = api(outsider).post(
        URL, {"template": their_template.pk, "patients": [ours.pk]}, format="json"
    )
    assert response.json()["errors"] == {"patients": ["部分所选患者不存在。"]}
    response = api(assistant).post(
        URL, {"template": our_template.pk, "patients": [ours.pk, theirs.pk]}, format="json"
    )
    assert response.json()["errors"] == {"patients": ["部分所选患者不存在。"]}
    assert not CarePlan.objects.exists()
    assert Patient.objects.count() == 2


def test_the_workbench_offers_the_action_to_the_roles_the_api_allows(client, clinic, assistant):
    operations = make_staff(clinic, "operations", "ops")
    client.force_login(assistant)
    page = client.get("/workbench/").content.decode()
    assert 'id="bulk-plan"' in page and "/api/care-plans/bulk/" in page
    client.force_login(operations)
    response = client.get("/workbench/")
    assert response.status_code == 200
    assert 'id="bulk-plan"' not in response.content.decode()
