"""The follow-ups API and pages: scoping (outsiders get 404), roles, the one error shape,
clear Chinese errors on bad templates, and nothing scheduled lost by a bad edit."""

from datetime import timedelta

import pytest

from followups import clock, services
from followups.models import CarePlan, ChecklistTick, FollowUpTask, TaskStatus
from tests.followups_factories import post_op_template, step

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(clinic, make_patient, assistant):
    patient = make_patient(name="钱七", assigned_assistant=assistant)
    template = post_op_template(clinic)
    # Anchored yesterday: day 1 is due today, day 7 and 30 are ahead.
    plan, _ = services.plan_start(
        patient=patient, template=template, anchor_date=clock.local_today() - timedelta(days=1)
    )
    return plan


def test_queue_views_and_complete(api, assistant, plan):
    client = api(assistant)
    mine = client.get("/api/followup-tasks/?view=mine").json()
    assert mine["count"] == 3
    assert [t["title"] for t in mine["results"]][0] == "术后第1天电话随访"
    upcoming = client.get("/api/followup-tasks/?view=upcoming").json()
    assert [t["title"] for t in upcoming["results"]] == ["术后第7天复查提醒"]
    task_id = mine["results"][0]["id"]
    done = client.post(
        f"/api/followup-tasks/{task_id}/complete/", {"outcome": "reached", "notes": "恢复好"}
    )
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "done" and done.json()["outcome"] == "reached"
    again = client.post(f"/api/followup-tasks/{task_id}/complete/", {"outcome": "reached"})
    assert again.status_code == 400
    assert again.json() == {
        "code": "invalid",
        "message": "该任务已关闭。",
        "errors": {"non_field_errors": ["该任务已关闭。"]},
    }


def test_bad_outcome_is_a_400_in_the_error_shape(api, assistant, plan):
    task = plan.tasks.first()
    response = api(assistant).post(f"/api/followup-tasks/{task.pk}/complete/", {"outcome": "maybe"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "outcome" in body["errors"]
    missing = api(assistant).post(f"/api/followup-tasks/{task.pk}/complete/", {})
    assert missing.status_code == 400 and missing.json()["errors"] == {
        "outcome": ["请选择随访结果。"]
    }


def test_outsider_gets_404_and_an_empty_list(api, outsider, plan):
    client = api(outsider)
    task = plan.tasks.first()
    assert client.get(f"/api/followup-tasks/{task.pk}/").status_code == 404
    assert (
        client.post(f"/api/followup-tasks/{task.pk}/complete/", {"outcome": "reached"}).status_code
        == 404
    )
    assert client.get("/api/followup-tasks/").json()["count"] == 0
    assert client.get(f"/api/care-plan-templates/{plan.template_id}/").status_code == 404
    assert client.post(f"/api/care-plans/{plan.pk}/stop/", {"reason": "x"}).status_code == 404
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


def test_only_admins_write_templates(api, staff):
    body = {"name": "满意度调查", "steps": [step("满意度调查", 3)]}
    assert (
        api(staff["assistant"]).post("/api/care-plan-templates/", body, format="json").status_code
        == 403
    )
    created = api(staff["admin"]).post("/api/care-plan-templates/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["version"] == 1 and created.json()["steps"][0]["offset_days"] == 3
    assert api(staff["nurse"]).get("/api/care-plan-templates/").json()["count"] == 1


@pytest.mark.parametrize(
    "steps, message",
    [
        ([step(offset_days=-5)], "第 1 步：偏移天数不能为负数（-5 天）。"),
        ([step(), step("第二步", 3, role="")], "第 2 步：没有指定执行人，请选择角色或具体人员。"),
        (
            [step(window_start="18:00", window_end="09:00")],
            "第 1 步：时间窗口的结束时间必须晚于开始时间。",
        ),
        (
            [step(message="{手机号}您好")],
            "第 1 步：未知变量 {手机号}。可用变量：{姓名} {医生} {诊所} {复诊日期}",
        ),
        ([], "随访计划至少需要一个步骤。"),
    ],
)
def test_bad_steps_get_a_clear_error_and_nothing_scheduled_is_lost(
    api, admin_user, plan, steps, message
):
    before = list(FollowUpTask.objects.order_by("pk").values("pk", "title", "due_at", "status"))
    response = api(admin_user).patch(
        f"/api/care-plan-templates/{plan.template_id}/", {"steps": steps}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "请修正以下错误。",
        "errors": {"steps": [message]},
    }
    plan.template.refresh_from_db()
    assert plan.template.current_version.number == 1
    assert (
        list(FollowUpTask.objects.order_by("pk").values("pk", "title", "due_at", "status"))
        == before
    )


def test_template_loops_are_refused(api, admin_user, clinic):
    client = api(admin_user)
    a = client.post(
        "/api/care-plan-templates/", {"name": "甲", "steps": [step()]}, format="json"
    ).json()
    b = client.post(
        "/api/care-plan-templates/",
        {"name": "乙", "steps": [step("转甲", 1, "start_plan", start_template_id=a["id"])]},
        format="json",
    )
    assert b.status_code == 201
    # 甲 starting 乙, which starts 甲: refused.
    loop = client.patch(
        f"/api/care-plan-templates/{a['id']}/",
        {"steps": [step("转乙", 1, "start_plan", start_template_id=b.json()["id"])]},
        format="json",
    )
    assert loop.status_code == 400
    assert loop.json()["errors"] == {
        "steps": ["模板循环：这些计划会无限地互相启动：甲 → 乙 → 甲。"]
    }
    # A template starting itself: refused too.
    itself = client.patch(
        f"/api/care-plan-templates/{a['id']}/",
        {"steps": [step("再来一次", 7, "start_plan", start_template_id=a["id"])]},
        format="json",
    )
    assert itself.status_code == 400 and "甲 → 甲" in itself.json()["errors"]["steps"][0]


def test_start_and_stop_a_plan_by_hand(api, assistant, clinic, make_patient):
    template = post_op_template(clinic)
    patient = make_patient()
    client = api(assistant)
    created = client.post(
        "/api/care-plans/",
        {"patient": patient.pk, "template": template.pk, "anchor_date": "2026-03-01"},
        format="json",
    )
    assert created.status_code == 201, created.content
    plan = CarePlan.objects.get()
    assert plan.tasks.count() == 3
    no_reason = client.post(f"/api/care-plans/{plan.pk}/stop/", {})
    assert no_reason.status_code == 400
    stopped = client.post(f"/api/care-plans/{plan.pk}/stop/", {"reason": "患者转院"})
    assert stopped.json()["status"] == "stopped"
    assert set(plan.tasks.values_list("cancel_reason", flat=True)) == {"患者转院"}


def test_plan_for_another_clinics_patient_is_a_400(
    api, assistant, clinic, make_patient, other_clinic
):
    template = post_op_template(clinic)
    stranger = make_patient(target_clinic=other_clinic)
    response = api(assistant).post(
        "/api/care-plans/",
        {"patient": stranger.pk, "template": template.pk, "anchor_date": "2026-03-01"},
        format="json",
    )
    assert response.status_code == 400 and "patient" in response.json()["errors"]


# Pages ---------------------------------------------------------------------------------


def test_queue_page_completes_in_one_click(client, assistant, plan):
    client.force_login(assistant)
    page = client.get("/followups/queue/").content.decode()
    assert "随访队列" in page and "钱七" in page and "已联系上" in page
    task = plan.tasks.get(step_index=0)
    response = client.post(
        f"/followups/tasks/{task.pk}/complete/",
        {"outcome": "reached", "next": "/followups/queue/"},
    )
    assert response.status_code == 302 and response.url == "/followups/queue/"
    task.refresh_from_db()
    assert (task.status, task.outcome) == (TaskStatus.DONE, "reached")


def test_outsider_gets_404_on_pages(client, outsider, plan):
    client.force_login(outsider)
    task = plan.tasks.first()
    assert (
        client.post(f"/followups/tasks/{task.pk}/complete/", {"outcome": "reached"}).status_code
        == 404
    )
    assert client.post(f"/followups/tasks/{task.pk}/tick/").status_code == 404
    assert "钱七" not in client.get("/followups/queue/").content.decode()


def test_nurse_ticks_a_checklist_item(client, nurse, nurse_ward, clinic, make_patient):
    from tests.conftest import tag

    patient = make_patient(name="孙八", tags=[tag(clinic, "甲状腺结节")], ward=nurse_ward)
    template = services.template_create(
        clinic=clinic, name="病房SOP", steps=[step("术后换药", 0, "checklist", role="nurse")]
    )
    services.plan_start(patient=patient, template=template, anchor_date=clock.local_today())
    client.force_login(nurse)
    page = client.get("/nurse/").content.decode()
    assert "今日清单" in page and "甲状腺结节" in page and ">孙八</a> · 术后换药" in page
    item = FollowUpTask.objects.get()
    assert client.post(f"/followups/tasks/{item.pk}/tick/").status_code == 302
    tick = ChecklistTick.objects.get()
    assert tick.by == nurse and tick.task == item
    assert "勾选" in client.get("/nurse/").content.decode()


def test_template_form_shows_the_error_and_saves_nothing(client, admin_user, plan):
    client.force_login(admin_user)
    url = f"/followups/templates/{plan.template_id}/"
    assert "术后第1天电话随访" in client.get(url).content.decode()
    data = {
        "name": "术后随访",
        "trigger": "manual",
        "anchor": "trigger",
        "is_active": "on",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-0-title": "术后电话",
        "steps-0-offset_days": "-5",
        "steps-0-action": "call",
        "steps-0-role": "assistant",
        "steps-0-window_start": "09:00",
        "steps-0-window_end": "18:00",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert "第 1 步：偏移天数不能为负数（-5 天）。" in response.content.decode()
    plan.template.refresh_from_db()
    assert plan.template.current_version.number == 1
    data["steps-0-offset_days"] = "2"
    assert client.post(url, data).status_code == 302
    plan.template.refresh_from_db()
    assert plan.template.current_version.steps[0]["offset_days"] == 2
    assert plan.tasks.count() == 3 and plan.tasks.filter(status="open").count() == 3


def test_only_admins_open_the_template_editor(client, assistant, plan):
    client.force_login(assistant)
    assert client.get(f"/followups/templates/{plan.template_id}/").status_code == 403
    assert client.get("/followups/templates/").status_code == 200


@pytest.mark.parametrize(
    "bad_step",
    [
        {"title": "x", "offset_days": "abc", "action": "call", "role": "assistant"},
        {"title": "x", "offset_days": 1, "action": ["call"], "role": {"a": 1}},
        {"title": "x", "offset_days": 1, "action": "call", "role": "assistant", "window_start": 9},
        {
            "title": "x",
            "offset_days": 1,
            "action": "start_plan",
            "role": "assistant",
            "start_template_id": "abc",
        },
        {"title": "x", "offset_days": 1, "action": "call", "assignee_id": "nobody"},
        {"title": "x", "offset_days": 1.5e300, "action": "call", "role": "assistant"},
        {"title": "x", "offset_days": 1, "action": "call", "assignee_id": 10**30},
    ],
)
def test_malformed_steps_are_400_never_500(api, admin_user, bad_step):
    response = api(admin_user).post(
        "/api/care-plan-templates/", {"name": "坏模板", "steps": [bad_step]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and response.json()["errors"]["steps"][
        0
    ].startswith("第 1 步")


def test_template_list_names_what_starts_each_plan(client, nurse, clinic):
    from patients.choices import Stage
    from tests.conftest import tag

    post_op_template(clinic, trigger="tag_added", trigger_tag=tag(clinic, "术后"))
    services.template_create(
        clinic=clinic,
        name="预约提醒",
        trigger="stage_entered",
        trigger_stage=Stage.BOOKED,
        steps=[step("确认预约", 0)],
    )
    client.force_login(nurse)
    page = client.get("/followups/templates/").content.decode()
    assert "添加标签 · 术后" in page and "进入阶段 · 预约" in page
    assert "新建模板" not in page  # only admins create templates
