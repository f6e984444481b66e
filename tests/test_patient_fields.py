"""Clinic-defined patient fields: definitions, values and their validation (in Chinese, naming
the field), and care plans counting from a patient's date field (D+1 after 手术日期)."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from followups import services as followups
from followups.models import Action, Anchor, CarePlan, FollowUpTask, Outcome, TaskStatus, Trigger
from patients.choices import TouchKind
from patients.fields import services as fields
from patients.fields.models import FieldKind, PatientFieldValue
from tests.followups_factories import step

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def chinese():
    with translation.override("zh-hans"):
        yield


@pytest.fixture
def surgery(clinic):
    return fields.field_create(clinic=clinic, name="手术日期", kind=FieldKind.DATE)


def post_op_on(clinic, field, name="术后随访（按手术日期）"):
    return followups.template_create(
        clinic=clinic,
        name=name,
        anchor=Anchor.FIELD,
        anchor_field=field,
        steps=[
            step("术后第1天电话随访", 1),
            step(
                "术后第3天复查提醒",
                3,
                Action.RE_EXAM,
                message="{姓名}您好，请于{复诊日期}来院复查。",
            ),
            step("术后第7天电话随访", 7),
        ],
    )


def local(moment):
    return moment.astimezone(SHANGHAI)


# ---- definitions and values ----------------------------------------------------------------


def test_fields_keep_their_order_and_kinds(clinic):
    fields.field_create(clinic=clinic, name="手术日期", kind=FieldKind.DATE)
    fields.field_create(
        clinic=clinic, name="过敏史", kind=FieldKind.CHOICES, options="青霉素\n头孢\n青霉素"
    )
    fields.field_create(
        clinic=clinic, name="血型", kind=FieldKind.CHOICE, options=["A", "B", "O", "AB"]
    )
    listed = fields.clinic_fields(clinic.pk)
    assert [f.name for f in listed] == ["手术日期", "过敏史", "血型"]
    assert listed[1].options == ["青霉素", "头孢"]
    fields.fields_reorder(clinic=clinic, ids=[listed[2].pk, listed[0].pk])
    assert [f.name for f in fields.clinic_fields(clinic.pk)] == ["血型", "手术日期", "过敏史"]


def test_definition_errors_are_chinese(clinic, surgery):
    with pytest.raises(ValidationError) as exc:
        fields.field_create(clinic=clinic, name="手术日期", kind=FieldKind.TEXT)
    assert exc.value.message_dict["name"] == ["本诊所已有名为“手术日期”的字段。"]
    with pytest.raises(ValidationError) as exc:
        fields.field_create(clinic=clinic, name="过敏史", kind=FieldKind.CHOICES, options=[])
    assert exc.value.message_dict["options"] == ["选项字段至少需要一个选项。"]


def test_values_are_typed_and_errors_name_the_field(clinic, make_patient, surgery, assistant):
    score = fields.field_create(clinic=clinic, name="疼痛评分", kind=FieldKind.NUMBER)
    allergy = fields.field_create(
        clinic=clinic, name="过敏史", kind=FieldKind.CHOICES, options=["青霉素", "头孢"]
    )
    patient = make_patient(name="李四")
    changed = fields.field_values_set(
        patient=patient,
        values={"手术日期": "2026/12/01", score: "7.5", allergy.pk: "头孢，青霉素"},
        actor=assistant,
    )
    assert {f.name for f in changed} == {"手术日期", "疼痛评分", "过敏史"}
    values = fields.values_of([patient.pk])[patient.pk]
    assert values == {
        surgery.pk: date(2026, 12, 1),
        score.pk: Decimal("7.5"),
        allergy.pk: ["青霉素", "头孢"],  # the field's order
    }
    entry = patient.touches.filter(kind=TouchKind.PROFILE).first()
    assert "手术日期 — → 2026-12-01" in entry.summary
    # Each bad value names its field, in Chinese; nothing is written.
    with pytest.raises(ValidationError) as exc:
        fields.field_values_set(
            patient=patient,
            values={"手术日期": "上周三", score: "很痛", allergy: ["花粉"]},
            actor=assistant,
        )
    errors = exc.value.message_dict
    assert errors[surgery.param] == ["“手术日期”：“上周三”不是日期，请写成 2026-12-08 这样。"]
    assert errors[score.param] == ["“疼痛评分”：“很痛”不是数字。"]
    assert errors[allergy.param] == ["“过敏史”：“花粉”不是它的选项（青霉素、头孢）。"]
    assert fields.values_of([patient.pk])[patient.pk][score.pk] == Decimal("7.5")


def test_required_field_on_create_and_never_emptied(clinic, make_patient):
    diagnosis = fields.field_create(
        clinic=clinic, name="诊断", kind=FieldKind.TEXT, is_required=True
    )
    patient = make_patient()
    with pytest.raises(ValidationError) as exc:
        fields.field_values_set(patient=patient, values={"备注": "x"}, creating=True)
    assert "本诊所没有患者字段“备注”。" in exc.value.message_dict["custom_fields"]
    assert exc.value.message_dict[diagnosis.param] == ["“诊断”：此项必填。"]
    fields.field_values_set(patient=patient, values={diagnosis: "腰椎间盘突出"})
    with pytest.raises(ValidationError) as exc:
        fields.field_values_set(patient=patient, values={diagnosis: ""})
    assert exc.value.message_dict[diagnosis.param] == ["“诊断”：此项必填。"]


def test_a_role_without_the_capability_cannot_set_values(clinic, make_patient, surgery, staff):
    patient = make_patient()
    operations = staff["operations"].memberships.get()
    with pytest.raises(ValidationError) as exc:
        fields.field_values_set(
            patient=patient, values={surgery: "2026-12-01"}, membership=operations
        )
    assert exc.value.message_dict["custom_fields"] == ["您的角色不能修改患者字段。"]
    assert not PatientFieldValue.objects.exists()


def test_another_clinics_field_is_unknown(clinic, other_clinic, make_patient):
    theirs = fields.field_create(clinic=other_clinic, name="手术日期", kind=FieldKind.DATE)
    patient = make_patient()
    with pytest.raises(ValidationError) as exc:
        fields.field_values_set(patient=patient, values={theirs: "2026-12-01"})
    assert "custom_fields" in exc.value.message_dict
    assert fields.clinic_fields(clinic.pk) == []
    assert not PatientFieldValue.objects.exists()


def test_kind_and_carried_option_stay(clinic, make_patient):
    blood = fields.field_create(
        clinic=clinic, name="血型", kind=FieldKind.CHOICE, options=["A", "B"]
    )
    fields.field_values_set(patient=make_patient(), values={blood: "A"})
    with pytest.raises(ValidationError) as exc:
        fields.field_update(field=blood, kind=FieldKind.TEXT)
    assert exc.value.message_dict["kind"] == ["已有患者填写了此字段：类型不能再改。"]
    with pytest.raises(ValidationError) as exc:
        fields.field_update(field=blood, options=["B", "O"])
    assert exc.value.message_dict["options"] == ["仍有患者选了“A”：请先修改他们的值。"]
    fields.field_update(field=blood, options=["A", "B", "O"])
    blood.refresh_from_db()
    assert blood.options == ["A", "B", "O"]


# ---- plans anchored on 手术日期 -------------------------------------------------------------


def test_plan_counts_from_the_surgery_date(clinic, make_patient, surgery, assistant):
    patient = make_patient(name="王五", assigned_assistant=assistant)
    fields.field_values_set(patient=patient, values={surgery: "2026-12-01"})
    template = post_op_on(clinic, surgery)
    # The date given is not asked: the patient's 手术日期 is day 0.
    plan, created = followups.plan_start(
        patient=patient, template=template, anchor_date=date(2030, 1, 1)
    )
    assert created and plan.anchor_date == date(2026, 12, 1) and plan.anchor_field == surgery
    days = [local(t.due_at).date() for t in plan.tasks.order_by("step_index")]
    assert days == [date(2026, 12, 2), date(2026, 12, 4), date(2026, 12, 8)]


def test_missing_anchor_date_is_a_clear_error(clinic, make_patient, surgery):
    patient = make_patient(name="赵六")
    template = post_op_on(clinic, surgery)
    with pytest.raises(ValidationError) as exc:
        followups.plan_start(patient=patient, template=template)
    assert exc.value.message_dict["anchor_date"] == [
        "术后随访（按手术日期）从手术日期起算，赵六还没有手术日期：请先在患者页填写。"
    ]
    assert not CarePlan.objects.exists()


def test_changing_the_date_moves_open_tasks_not_done_ones(clinic, make_patient, surgery, assistant):
    patient = make_patient(name="王五", assigned_assistant=assistant)
    fields.field_values_set(patient=patient, values={surgery: "2026-12-01"})
    template = post_op_on(clinic, surgery)
    plan, _ = followups.plan_start(patient=patient, template=template)
    first, reminder, last = plan.tasks.order_by("step_index")
    followups.followup_complete(task=first, by=assistant, outcome=Outcome.REACHED)
    first.refresh_from_db()
    done_due = first.due_at

    fields.field_values_set(patient=patient, values={surgery: "2026-12-05"}, actor=assistant)

    plan.refresh_from_db()
    assert plan.anchor_date == date(2026, 12, 5)
    first.refresh_from_db()
    reminder.refresh_from_db()
    last.refresh_from_db()
    assert first.status == TaskStatus.DONE and first.due_at == done_due
    assert local(reminder.due_at) == datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI)
    assert local(reminder.window_end).date() == date(2026, 12, 8)
    assert reminder.message == "王五您好，请于12月8日来院复查。"
    assert local(last.due_at).date() == date(2026, 12, 12)
    moved = patient.touches.get(kind=TouchKind.FOLLOWUP, payload__event="plan_moved")
    assert moved.summary == (
        "随访计划 术后随访（按手术日期） 随手术日期调整：2026-12-01 → 2026-12-05（2 项未完成任务已顺延）"
    )
    assert sorted(moved.payload["moved_tasks"]) == sorted([reminder.pk, last.pk])
    assert moved.actor == assistant


def test_a_plan_not_anchored_on_the_field_stays(clinic, make_patient, surgery):
    patient = make_patient()
    fields.field_values_set(patient=patient, values={surgery: "2026-12-01"})
    other = followups.template_create(
        clinic=clinic, name="普通随访", steps=[step("电话随访", 2)], trigger=Trigger.MANUAL
    )
    plan, _ = followups.plan_start(patient=patient, template=other, anchor_date=date(2026, 12, 1))
    due = plan.tasks.get().due_at
    fields.field_values_set(patient=patient, values={surgery: "2026-12-09"})
    assert plan.tasks.get().due_at == due
    assert not patient.touches.filter(payload__event="plan_moved").exists()


def test_template_anchor_field_must_be_a_date_of_the_clinic(clinic, other_clinic):
    text = fields.field_create(clinic=clinic, name="诊断", kind=FieldKind.TEXT)
    theirs = fields.field_create(clinic=other_clinic, name="手术日期", kind=FieldKind.DATE)
    for field in (None, text, theirs):
        with pytest.raises(ValidationError) as exc:
            post_op_on(clinic, field)
        assert exc.value.message_dict["anchor_field"] == ["请选择步骤起算的患者日期字段。"]


def test_a_field_plans_count_from_is_not_deleted(clinic, surgery):
    post_op_on(clinic, surgery)
    with pytest.raises(ValidationError) as exc:
        fields.field_delete(field=surgery)
    assert exc.value.messages == ["有随访计划从“手术日期”起算：请先修改这些计划。"]


def test_bulk_start_uses_each_patients_date(clinic, make_patient, surgery, assistant):
    one, two = make_patient(name="甲"), make_patient(name="乙")
    fields.field_values_set(patient=one, values={surgery: "2026-12-01"})
    fields.field_values_set(patient=two, values={surgery: "2026-12-03"})
    template = post_op_on(clinic, surgery)
    result = followups.plan_start_bulk(
        membership=assistant.memberships.get(),
        patient_ids=[one.pk, two.pk],
        template=template,
        anchor_date=date(2026, 1, 1),
    )
    assert sorted(p.anchor_date for p in result.started) == [date(2026, 12, 1), date(2026, 12, 3)]
    three = make_patient(name="丙")
    with pytest.raises(ValidationError):
        followups.plan_start_bulk(
            membership=assistant.memberships.get(),
            patient_ids=[three.pk],
            template=template,
            anchor_date=date(2026, 1, 1),
        )
    assert FollowUpTask.objects.filter(patient=three).count() == 0
