"""Nurses: a checklist item that asks for a value (体温 ℃ in a range, 血压 120/80), and a tick
undone (audited, on the timeline, the item open again)."""

import pytest
from django.core.exceptions import ValidationError

from crm.models import AuditEvent
from followups import clock, services
from followups.models import CarePlan, ChecklistTick, FollowUpTask, PlanStatus, TaskStatus
from tests.conftest import make_staff
from tests.followups_factories import step

pytestmark = pytest.mark.django_db

TEMPERATURE = {"kind": "number", "label": "体温", "unit": "℃", "min": 35, "max": 42}
PRESSURE = {"kind": "blood_pressure", "label": "血压"}


@pytest.fixture
def items(clinic, make_patient, nurse_ward):
    """Two checklist items of one patient in the nurse's ward: temperature and pressure."""
    template = services.template_create(
        clinic=clinic,
        name="病房测量",
        steps=[
            step("测量体温", 0, "checklist", role="nurse", value=TEMPERATURE),
            step("测量血压", 0, "checklist", role="nurse", value=PRESSURE),
        ],
    )
    patient = make_patient(name="冯四", ward=nurse_ward)
    plan, _ = services.plan_start(
        patient=patient, template=template, anchor_date=clock.local_today()
    )
    return plan.tasks.get(step_index=0), plan.tasks.get(step_index=1)


def url(task, action):
    return f"/api/followup-tasks/{task.pk}/{action}/"


def test_the_spec_is_normalised_in_the_template(items):
    temperature, pressure = items
    steps = temperature.plan.version.steps
    assert steps[0]["value"] == {
        "kind": "number",
        "label": "体温",
        "unit": "℃",
        "min": "35",
        "max": "42",
    }
    assert steps[1]["value"] == {"kind": "blood_pressure", "label": "血压", "unit": "mmHg"}


@pytest.mark.parametrize(
    "value, message",
    [
        ({"kind": "number", "label": "体温", "min": 42, "max": 35}, "允许的最低值必须小于最高值"),
        ({"kind": "number", "label": "体温"}, "请填写数值的允许范围"),
        ({"kind": "number", "min": 1, "max": 2}, "请填写要记录的数值名称"),
        ({"kind": "colour", "label": "x"}, "请选择数值类型"),
    ],
)
def test_a_bad_value_spec_names_the_step_and_saves_nothing(clinic, value, message):
    with pytest.raises(ValidationError) as error:
        services.template_create(
            clinic=clinic,
            name="坏模板",
            steps=[step("测量体温", 0, "checklist", role="nurse", value=value)],
        )
    text = error.value.message_dict["steps"][0]
    assert text.startswith("第 1 步") and message in text
    assert not clinic.care_templates.filter(name="坏模板").exists()


def test_value_is_stored_with_the_tick_and_shown_on_the_timeline(api, nurse, items):
    temperature, pressure = items
    client = api(nurse)
    assert client.post(url(temperature, "tick"), {"value": "37.50"}).status_code == 200
    assert client.post(url(pressure, "tick"), {"value": "128 / 82"}).status_code == 200
    tick = ChecklistTick.objects.get(task=temperature)
    assert tick.value == {"label": "体温", "unit": "℃", "numbers": [37.5], "text": "37.5"}
    assert tick.value_text == "体温 37.5 ℃"
    assert ChecklistTick.objects.get(task=pressure).value_text == "血压 128/82 mmHg"
    summaries = temperature.patient.touches.values_list("summary", flat=True)
    assert any("已记录：体温 37.5 ℃" in s for s in summaries)
    assert any("已记录：血压 128/82 mmHg" in s for s in summaries)


@pytest.mark.parametrize(
    "which, value, message",
    [
        (0, "", "请先填写体温再勾选。"),
        (0, "高烧", "体温必须是数字。"),
        (0, "43", "体温 43 超出允许范围 35–42 ℃，未保存。"),
        (0, "NaN", "体温必须是数字。"),
        (0, "1e999", "体温必须是数字。"),
        (1, "120", "血压请填写两个数字，例如 120/80。"),
        (1, "300/80", "血压 300/80 超出允许范围（收缩压 50–260，舒张压 30–160 mmHg），未保存。"),
        (1, "80/120", "收缩压必须高于舒张压。"),
    ],
)
def test_a_bad_value_is_a_chinese_error_and_saves_nothing(api, nurse, items, which, value, message):
    task = items[which]
    response = api(nurse).post(url(task, "tick"), {"value": value})
    assert response.status_code == 400
    assert response.json()["errors"]["value"] == [message]
    assert FollowUpTask.objects.get(pk=task.pk).status == TaskStatus.OPEN
    assert not ChecklistTick.objects.exists()
    assert not task.patient.touches.filter(payload__task_id=task.pk).exists()


def test_an_item_without_a_spec_takes_no_value(api, clinic, nurse, nurse_ward, make_patient):
    template = services.template_create(
        clinic=clinic, name="换药", steps=[step("换药", 0, "checklist", role="nurse")]
    )
    plan, _ = services.plan_start(
        patient=make_patient(ward=nurse_ward), template=template, anchor_date=clock.local_today()
    )
    task = plan.tasks.get()
    assert api(nurse).post(url(task, "tick")).status_code == 200
    assert ChecklistTick.objects.get(task=task).value is None


def test_undo_reopens_the_item_audited_and_on_the_timeline(api, clinic, nurse, items):
    temperature, pressure = items
    client = api(nurse)
    client.post(url(temperature, "tick"), {"value": "36.8"})
    client.post(url(pressure, "tick"), {"value": "120/80"})
    assert CarePlan.objects.get(pk=temperature.plan_id).status == PlanStatus.FINISHED
    body = client.post(url(temperature, "untick")).json()
    assert body["status"] == "open"
    task = FollowUpTask.objects.get(pk=temperature.pk)
    assert (task.status, task.done_at, task.done_by) == (TaskStatus.OPEN, None, None)
    tick = ChecklistTick.objects.get(task=task)
    assert tick.undone_by == nurse and tick.undone_at is not None  # kept as history
    event = AuditEvent.objects.get(action="tick_undo")
    assert (event.user, event.object_id) == (nurse, str(task.pk))
    assert event.detail["value"]["text"] == "36.8" and event.detail["ticked_by"] == nurse.pk
    touch = task.patient.touches.get(payload__event="tick_undone")
    assert touch.summary == "撤销清单勾选：测量体温（体温 36.8 ℃）"
    # The plan is active again; the item can be ticked anew, with a new value.
    assert CarePlan.objects.get(pk=temperature.plan_id).status == PlanStatus.ACTIVE
    assert client.post(url(temperature, "tick"), {"value": "37.1"}).status_code == 200
    assert [t.value_text for t in ChecklistTick.objects.filter(task=task).order_by("id")] == [
        "体温 36.8 ℃",
        "体温 37.1 ℃",
    ]
    assert ChecklistTick.objects.standing().filter(task=task).count() == 1


def test_only_the_one_who_ticked_or_an_admin_undoes(
    api, clinic, nurse, admin_user, nurse_ward, items
):
    temperature, _pressure = items
    colleague = make_staff(clinic, "nurse", "nurse-2")
    nurse_ward.nurses.add(colleague.memberships.get())
    api(nurse).post(url(temperature, "tick"), {"value": "36.5"})
    refused = api(colleague).post(url(temperature, "untick"))
    assert refused.status_code == 400
    assert refused.json()["message"] == "只有勾选的人或管理员可以撤销。"
    assert FollowUpTask.objects.get(pk=temperature.pk).status == TaskStatus.DONE
    assert not AuditEvent.objects.filter(action="tick_undo").exists()
    assert api(admin_user).post(url(temperature, "untick")).status_code == 200


def test_undo_of_an_item_not_ticked_is_refused(api, nurse, items):
    response = api(nurse).post(url(items[0], "untick"))
    assert response.status_code == 400 and response.json()["message"] == "该项尚未勾选。"


def test_checklist_page_links_names_asks_for_the_value_and_offers_undo(client, nurse, items):
    temperature, _pressure = items
    client.force_login(nurse)
    page = client.get("/nurse/").content.decode()
    assert f'href="/patients/{temperature.patient_id}/"' in page
    assert 'placeholder="35–42"' in page and 'placeholder="120/80"' in page
    response = client.post(
        f"/followups/tasks/{temperature.pk}/tick/", {"value": "50", "next": "/nurse/"}, follow=True
    )
    assert "体温 50 超出允许范围 35–42 ℃，未保存。" in response.content.decode()
    assert not ChecklistTick.objects.exists()
    client.post(f"/followups/tasks/{temperature.pk}/tick/", {"value": "36.6"})
    page = client.get("/nurse/").content.decode()
    assert "体温 36.6 ℃" in page and 'data-testid="undo"' in page
    response = client.post(f"/followups/tasks/{temperature.pk}/untick/", follow=True)
    assert "已撤销勾选：测量体温 · 冯四" in response.content.decode()
    assert FollowUpTask.objects.get(pk=temperature.pk).status == TaskStatus.OPEN


def test_template_editor_saves_a_value_spec(client, admin_user, clinic):
    client.force_login(admin_user)
    data = {
        "name": "测体温",
        "trigger": "manual",
        "anchor": "trigger",
        "is_active": "on",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-0-title": "测量体温",
        "steps-0-offset_days": "0",
        "steps-0-action": "checklist",
        "steps-0-role": "nurse",
        "steps-0-window_start": "09:00",
        "steps-0-window_end": "18:00",
        "steps-0-value_kind": "number",
        "steps-0-value_label": "体温",
        "steps-0-value_unit": "℃",
        "steps-0-value_min": "35",
        "steps-0-value_max": "42",
    }
    assert client.post("/followups/templates/new/", data).status_code == 302
    template = clinic.care_templates.get(name="测体温")
    assert template.current_version.steps[0]["value"]["max"] == "42"
    page = client.get(f"/followups/templates/{template.pk}/").content.decode()
    assert 'value="体温"' in page
