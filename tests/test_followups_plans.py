"""Templates, versions, plans and tasks through the services."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from followups import services
from followups.models import (
    Action,
    CarePlan,
    ChecklistTick,
    FollowUpTask,
    Outcome,
    PlanStatus,
    ReminderState,
    TaskStatus,
    Trigger,
)
from patients.choices import Stage, TouchKind
from patients.services import patient_set_stage, patient_tag, patient_update, visit_record
from tests.conftest import tag
from tests.followups_factories import post_op_template, step

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_plan_start_creates_one_task_per_step_in_clinic_time(clinic, make_patient, assistant):
    patient = make_patient(name="李四", assigned_assistant=assistant)
    template = post_op_template(clinic)
    plan, created = services.plan_start(
        patient=patient, template=template, anchor_date=date(2026, 3, 1)
    )
    assert created
    tasks = list(plan.tasks.order_by("step_index"))
    assert [t.due_at.astimezone(SHANGHAI) for t in tasks] == [
        datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI),
        datetime(2026, 3, 8, 9, 0, tzinfo=SHANGHAI),
        datetime(2026, 3, 31, 9, 0, tzinfo=SHANGHAI),
    ]
    assert tasks[0].window_end.astimezone(SHANGHAI).hour == 18
    # The role "assistant" goes to the patient's own assistant.
    assert {t.assignee_id for t in tasks} == {assistant.pk}
    assert tasks[1].message == "李四您好，请于3月8日来院复查。"
    assert tasks[1].reminder_state == ReminderState.PENDING
    assert tasks[0].reminder_state == ReminderState.NONE
    assert patient.touches.filter(kind=TouchKind.FOLLOWUP).count() == 1


def test_same_plan_twice_is_one_plan(clinic, make_patient):
    patient = make_patient()
    template = post_op_template(clinic)
    first, _ = services.plan_start(patient=patient, template=template, anchor_date=date(2026, 3, 1))
    again, created = services.plan_start(
        patient=patient, template=template, anchor_date=date(2026, 3, 1)
    )
    assert (again.pk, created) == (first.pk, False)
    assert FollowUpTask.objects.count() == 3


def test_editing_a_template_leaves_started_tasks_unchanged(clinic, make_patient, admin_user):
    patient = make_patient()
    template = post_op_template(clinic)
    plan, _ = services.plan_start(patient=patient, template=template, anchor_date=date(2026, 3, 1))
    before = list(plan.tasks.order_by("step_index").values("title", "due_at", "message"))
    services.template_update(
        template=template,
        by=admin_user,
        steps=[step("术后第2天电话随访", 2), step("术后第14天电话随访", 14)],
    )
    template.refresh_from_db()
    assert template.current_version.number == 2
    assert list(plan.tasks.order_by("step_index").values("title", "due_at", "message")) == before
    plan.refresh_from_db()
    assert plan.version.number == 1
    # A plan started now uses the new version.
    other, _ = services.plan_start(
        patient=make_patient(), template=template, anchor_date=date(2026, 3, 1)
    )
    assert list(other.tasks.values_list("title", flat=True)) == [
        "术后第2天电话随访",
        "术后第14天电话随访",
    ]


def test_stopping_a_plan_cancels_only_its_open_tasks(clinic, make_patient, assistant):
    patient = make_patient()
    template = post_op_template(clinic)
    plan, _ = services.plan_start(patient=patient, template=template, anchor_date=date(2026, 3, 1))
    other_plan, _ = services.plan_start(
        patient=patient, template=template, anchor_date=date(2026, 4, 1)
    )
    first = plan.tasks.get(step_index=0)
    services.followup_complete(task=first, by=assistant, outcome=Outcome.REACHED)
    cancelled = services.plan_stop(plan=plan, reason="患者要求停止随访", by=assistant)
    assert cancelled == 2
    statuses = dict(plan.tasks.values_list("step_index", "status"))
    assert statuses == {0: TaskStatus.DONE, 1: TaskStatus.CANCELLED, 2: TaskStatus.CANCELLED}
    assert set(plan.tasks.filter(status="cancelled").values_list("cancel_reason", flat=True)) == {
        "患者要求停止随访"
    }
    assert set(other_plan.tasks.values_list("status", flat=True)) == {TaskStatus.OPEN}
    plan.refresh_from_db()
    assert plan.status == PlanStatus.STOPPED and plan.stop_reason == "患者要求停止随访"
    assert services.plan_stop(plan=plan, reason="again") == 0


def test_complete_writes_a_touch_and_finishes_the_plan(clinic, make_patient, assistant):
    patient = make_patient()
    template = services.template_create(clinic=clinic, name="一次随访", steps=[step(offset_days=0)])
    plan, _ = services.plan_start(patient=patient, template=template, anchor_date=date(2026, 3, 1))
    task = services.followup_complete(
        task=plan.tasks.get(), by=assistant, outcome=Outcome.REACHED, notes="恢复良好"
    )
    assert task.status == TaskStatus.DONE and task.done_by == assistant and task.done_at
    touch = patient.touches.filter(kind=TouchKind.FOLLOWUP).first()
    assert "恢复良好" in touch.summary and touch.payload["task_id"] == task.pk
    plan.refresh_from_db()
    assert plan.status == PlanStatus.FINISHED
    with pytest.raises(ValidationError):
        services.followup_complete(task=task, by=assistant, outcome=Outcome.REACHED)


def test_needs_revisit_books_and_escalate_goes_to_the_doctor(
    clinic, make_patient, assistant, doctor
):
    patient = make_patient(assigned_doctor=doctor, stage=Stage.AFTER_VISIT)
    template = services.template_create(
        clinic=clinic, name="两次随访", steps=[step(offset_days=0), step("第二次", 1)]
    )
    plan, _ = services.plan_start(patient=patient, template=template, anchor_date=date(2026, 3, 1))
    first, second = plan.tasks.order_by("step_index")
    services.followup_complete(task=first, by=assistant, outcome=Outcome.NEEDS_REVISIT)
    patient.refresh_from_db()
    assert patient.stage == Stage.BOOKED
    assert patient.transitions.first().reason == "随访：需要复诊"
    assert (
        FollowUpTask.objects.filter(
            plan=None, role="assistant", title__startswith="预约复诊"
        ).count()
        == 1
    )
    services.followup_complete(
        task=second, by=assistant, outcome=Outcome.ESCALATE, notes="伤口红肿"
    )
    doctor_task = FollowUpTask.objects.for_assignee(doctor).open().get()
    assert doctor_task.assignee == doctor and doctor_task.notes == "伤口红肿"


def test_done_at_is_set_if_and_only_if_done(clinic, make_patient):
    template = post_op_template(clinic)
    plan, _ = services.plan_start(
        patient=make_patient(), template=template, anchor_date=date(2026, 3, 1)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        plan.tasks.filter(step_index=0).update(status=TaskStatus.DONE)
    with pytest.raises(IntegrityError), transaction.atomic():
        plan.tasks.filter(step_index=0).update(done_at=timezone.now())


def test_checklist_tick_records_who_and_when(clinic, make_patient, nurse):
    template = services.template_create(
        clinic=clinic,
        name="护理SOP",
        steps=[
            step("换药", 0, Action.CHECKLIST, role="nurse"),
            step("测体温", 0, Action.CHECKLIST, role="nurse"),
        ],
    )
    plan, _ = services.plan_start(
        patient=make_patient(), template=template, anchor_date=date(2026, 3, 1)
    )
    item = plan.tasks.get(step_index=0)
    tick = services.checklist_tick(task=item, by=nurse)
    assert (tick.by, tick.task) == (nurse, item) and tick.at
    item.refresh_from_db()
    assert item.status == TaskStatus.DONE
    assert ChecklistTick.objects.count() == 1
    assert plan.tasks.get(step_index=1).status == TaskStatus.OPEN


def test_triggers_start_plans_once_and_churn_stops_them(clinic, make_patient, doctor):
    post_op = post_op_template(
        clinic, trigger=Trigger.TAG_ADDED, trigger_tag=tag(clinic, "术后"), name="术后随访"
    )
    revisit = services.template_create(
        clinic=clinic,
        name="复诊后满意度",
        trigger=Trigger.VISIT_RECORDED,
        trigger_visit_kind="revisit",
        steps=[step("满意度调查", 3, Action.SURVEY, message="{name}您好，请评价本次就诊。")],
    )
    booked = services.template_create(
        clinic=clinic,
        name="预约提醒",
        trigger=Trigger.STAGE_ENTERED,
        trigger_stage=Stage.BOOKED,
        steps=[step("确认预约", 0)],
    )
    patient = make_patient(name="王五")
    patient_tag(patient=patient, add=[tag(clinic, "术后")])
    visit_record(patient=patient, visit_date=date(2026, 3, 5), kind="revisit", doctor=doctor)
    visit_record(patient=make_patient(), visit_date=date(2026, 3, 5), kind="first")
    patient_set_stage(patient=patient, stage=Stage.BOOKED)
    result = services.triggers_scan()
    assert result["started"] == 3
    assert CarePlan.objects.filter(template=post_op, patient=patient).count() == 1
    assert CarePlan.objects.get(template=revisit).anchor_date == date(2026, 3, 5)
    assert CarePlan.objects.filter(template=booked).count() == 1
    # A replay (the scan re-reads recent entries) creates nothing twice.
    assert services.triggers_scan()["started"] == 0
    assert CarePlan.objects.count() == 3
    patient_set_stage(patient=patient, stage=Stage.CHURNED, reason="搬家")
    services.triggers_scan()
    assert set(CarePlan.objects.values_list("status", "stop_reason")) == {
        (PlanStatus.STOPPED, "患者已流失")
    }
    assert not FollowUpTask.objects.open().exists()


def test_withdrawn_consent_stops_plans(clinic, make_patient):
    patient = make_patient()
    plan, _ = services.plan_start(
        patient=patient, template=post_op_template(clinic), anchor_date=date(2026, 3, 1)
    )
    services.triggers_scan()
    patient_update(patient=patient, consent_to_contact=False)
    services.triggers_scan()
    plan.refresh_from_db()
    assert (plan.status, plan.stop_reason) == (PlanStatus.STOPPED, "患者撤回同意")


def test_templates_created_after_an_event_ignore_it(clinic, make_patient):
    patient = make_patient()
    patient_tag(patient=patient, add=[tag(clinic, "术后")])
    post_op_template(clinic, trigger=Trigger.TAG_ADDED, trigger_tag=tag(clinic, "术后"))
    assert services.triggers_scan()["started"] == 0
