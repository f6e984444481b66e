"""Calling and outcomes, and the nurse's values and undo, in Debian's Chromium, in Chinese:
拨打 from the queue and the patient page (tel: link, audit row), 已联系上, 未联系上 → next
attempt → 漏访, 约定回电 → a task at the agreed time, a value entered and a tick undone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import AuditEvent
from followups import clock, services
from followups.models import ChecklistTick, FollowUpSettings, FollowUpTask, TaskStatus
from tests.conftest import login, screenshot
from tests.followups_factories import step

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calls(clinic, make_patient, assistant):
    """Three open call tasks due today of the assistant's patients."""
    template = services.template_create(
        clinic=clinic, name="电话随访", steps=[step("术后电话随访", 0, window_start="00:00")]
    )
    tasks = {}
    for name, phone in (("周一", "13800138001"), ("吴二", "13800138002"), ("郑三", "13800138003")):
        patient = make_patient(name=name, phone=phone, assigned_assistant=assistant)
        plan, _ = services.plan_start(
            patient=patient, template=template, anchor_date=clock.local_today()
        )
        tasks[name] = plan.tasks.get()
    return tasks


def test_assistant_calls_from_the_queue_and_the_number_is_only_for_the_call(page, assistant, calls):
    task = calls["周一"]
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto("/followups/queue/")
    row = page.get_by_test_id(f"task-{task.pk}")
    assert "138****8001" in row.inner_text() and "13800138001" not in page.content()
    assert (
        row.get_by_test_id("patient-link").get_attribute("href") == f"/patients/{task.patient_id}/"
    )
    row.get_by_test_id("call").click()
    tel = row.get_by_test_id("tel")
    tel.wait_for()
    assert tel.get_attribute("href") == "tel:+8613800138001"
    assert tel.inner_text() == "拨打 13800138001"
    screenshot(page, "calls-queue-tel-link")
    event = AuditEvent.objects.get(action="call_reveal")
    assert (event.action, event.user_id, event.detail["task_id"]) == (
        "call_reveal",
        assistant.pk,
        task.pk,
    )
    # Leaving the page forgets the number: the masked one is back, the full one gone.
    page.evaluate("window.dispatchEvent(new Event('pagehide'))")
    assert row.get_by_test_id("tel").count() == 0
    assert "13800138001" not in page.content() and row.get_by_test_id("call").is_visible()


def test_the_three_outcomes_from_the_queue(page, clinic, assistant, calls):
    FollowUpSettings.objects.create(clinic=clinic, call_attempts=2, call_retry_hours=4)
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto("/followups/queue/")

    # 已联系上
    with page.expect_navigation():
        page.get_by_test_id(f"task-{calls['周一'].pk}").get_by_role(
            "button", name="已联系上"
        ).click()
    assert "已完成：术后电话随访 · 周一" in page.locator(".alert-success").inner_text()
    assert FollowUpTask.objects.get(pk=calls["周一"].pk).status == TaskStatus.DONE

    # 未联系上: the next attempt, then 漏访 after the last (2 here).
    wu = calls["吴二"]
    with page.expect_navigation():
        page.get_by_test_id(f"task-{wu.pk}").get_by_role("button", name="未联系上").click()
    message = page.locator(".alert-success").inner_text()
    wu.refresh_from_db()
    assert (
        f"未联系上：术后电话随访 · 吴二。下次尝试 {clock.local(wu.due_at):%m-%d %H:%M}。" in message
    )
    assert wu.status == TaskStatus.OPEN and wu.attempts == 1
    row = page.get_by_test_id(f"task-{wu.pk}")
    assert "未联系上 1 次" in row.inner_text()
    screenshot(page, "calls-not-reached-next-attempt")
    with page.expect_navigation():
        row.get_by_role("button", name="未联系上").click()
    assert (
        "2 次未联系上，已记为漏访：术后电话随访 · 吴二"
        in page.locator(".alert-success").inner_text()
    )
    assert page.get_by_test_id(f"task-{wu.pk}").count() == 0
    assert FollowUpTask.objects.get(pk=wu.pk).status == TaskStatus.UNREACHABLE

    # 约定回电: without a time it says so; with one, a task at that time.
    zheng = calls["郑三"]
    row = page.get_by_test_id(f"task-{zheng.pk}")
    with page.expect_navigation():
        row.get_by_role("button", name="约定回电").click()
    assert "请填写约定回电的时间。" in page.locator(".alert-danger").inner_text()
    agreed = clock.local(timezone.now() + timedelta(days=1)).replace(
        hour=15, minute=30, second=0, microsecond=0
    )
    row = page.get_by_test_id(f"task-{zheng.pk}")
    row.get_by_test_id("callback-at").fill(agreed.strftime("%Y-%m-%dT%H:%M"))
    with page.expect_navigation():
        row.get_by_role("button", name="约定回电").click()
    assert (
        f"已约定 {agreed:%m-%d %H:%M} 回电：术后电话随访 · 郑三"
        in page.locator(".alert-success").inner_text()
    )
    callback = FollowUpTask.objects.get(callback_of=zheng)
    assert (callback.due_at, callback.assignee_id) == (agreed, assistant.pk)
    upcoming = page.get_by_test_id("section-upcoming")
    assert "约定回电：术后电话随访" in upcoming.inner_text() and "约定回电" in upcoming.inner_text()
    screenshot(page, "calls-outcomes-after-callback")

    # The patient's timeline says every attempt.
    page.goto(f"/patients/{wu.patient_id}/")
    timeline = page.get_by_test_id("timeline")
    timeline.locator("li").first.wait_for()
    text = timeline.inner_text()
    assert "第 1 次，共 2 次" in text and "记为漏访" in text
    screenshot(page, "calls-timeline-unreachable")


def test_assistant_calls_from_the_patient_page(page, assistant, calls):
    task = calls["郑三"]
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{task.patient_id}/")
    panel = page.get_by_test_id("followup-tasks")
    panel.get_by_test_id("call").click()
    tel = panel.get_by_test_id("tel")
    tel.wait_for()
    assert tel.get_attribute("href") == "tel:+8613800138003"
    screenshot(page, "calls-patient-page-tel-link")
    assert AuditEvent.objects.get(action="call_reveal").detail["task_id"] == task.pk


def test_dashboard_shows_unreachable_apart(page, clinic, admin_user, calls):
    FollowUpSettings.objects.create(clinic=clinic, call_attempts=1)
    services.followup_complete(task=calls["周一"], by=admin_user, outcome="not_reached")
    services.followup_complete(task=calls["吴二"], by=admin_user, outcome="reached")
    login(page, admin_user.username)
    page.wait_for_load_state()
    page.goto("/dashboard/")
    unreachable = page.get_by_test_id("kpi-followups-unreachable")
    unreachable.wait_for()
    assert unreachable.inner_text() == "漏访：1（33.3%）"
    # Done counts the reached patient only: 1 of 3.
    assert page.locator("#kpi-followups-sub").inner_text().startswith("已完成 1 / 到期 3")
    screenshot(page, "calls-dashboard-unreachable")


def test_nurse_enters_a_value_and_undoes_a_tick(page, clinic, nurse, nurse_ward, make_patient):
    template = services.template_create(
        clinic=clinic,
        name="病房测量",
        steps=[
            step(
                "测量体温",
                0,
                "checklist",
                role="nurse",
                value={"kind": "number", "label": "体温", "unit": "℃", "min": 35, "max": 42},
            ),
            step(
                "测量血压",
                0,
                "checklist",
                role="nurse",
                value={"kind": "blood_pressure", "label": "血压"},
            ),
        ],
    )
    patient = make_patient(name="冯四", ward=nurse_ward)
    plan, _ = services.plan_start(
        patient=patient, template=template, anchor_date=clock.local_today()
    )
    temperature = plan.tasks.get(step_index=0)
    login(page, nurse.username)
    page.wait_for_url("**/nurse/")
    item = page.get_by_test_id(f"item-{temperature.pk}")
    assert item.get_by_role("link", name="冯四").get_attribute("href") == f"/patients/{patient.pk}/"
    item.get_by_test_id("value").fill("45")
    with page.expect_navigation():
        item.get_by_role("button", name="勾选").click()
    assert "体温 45 超出允许范围 35–42 ℃，未保存。" in page.locator(".alert-danger").inner_text()
    assert not ChecklistTick.objects.exists()
    screenshot(page, "nurse-value-out-of-range")
    item = page.get_by_test_id(f"item-{temperature.pk}")
    item.get_by_test_id("value").fill("37.2")
    with page.expect_navigation():
        item.get_by_role("button", name="勾选").click()
    item = page.get_by_test_id(f"item-{temperature.pk}")
    assert item.get_by_test_id("tick-value").inner_text() == "体温 37.2 ℃"
    assert page.get_by_test_id("progress").inner_text() == "1 / 2"
    screenshot(page, "nurse-value-ticked")
    with page.expect_navigation():
        item.get_by_test_id("undo").click()
    assert "已撤销勾选：测量体温 · 冯四" in page.locator(".alert-success").inner_text()
    assert page.get_by_test_id("progress").inner_text() == "0 / 2"
    assert FollowUpTask.objects.get(pk=temperature.pk).status == TaskStatus.OPEN
    assert AuditEvent.objects.filter(action="tick_undo").count() == 1
    screenshot(page, "nurse-tick-undone")
    page.goto(f"/patients/{patient.pk}/")
    timeline = page.get_by_test_id("timeline")
    timeline.locator("li").first.wait_for()
    assert "撤销清单勾选：测量体温（体温 37.2 ℃）" in timeline.inner_text()
    assert "已记录：体温 37.2 ℃" in timeline.inner_text()
    screenshot(page, "nurse-timeline-value-and-undo")
