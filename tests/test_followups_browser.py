"""The assistant's queue and the nurse's checklist in Debian's chromium, in Chinese."""

from datetime import timedelta

import pytest

from followups import clock, services
from followups.models import ChecklistTick, FollowUpTask, TaskStatus
from tests.conftest import login, screenshot, tag
from tests.followups_factories import post_op_template, step

pytestmark = pytest.mark.django_db(transaction=True)


def test_assistant_completes_a_task_from_the_queue(page, clinic, assistant, make_patient):
    today = clock.local_today()
    template = post_op_template(clinic)
    for name, days_ago in (("周一", 3), ("吴二", 1), ("郑三", 0)):
        services.plan_start(
            patient=make_patient(name=name, assigned_assistant=assistant),
            template=template,
            anchor_date=today - timedelta(days=days_ago),
        )
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto("/followups/queue/")
    assert page.locator("h1").inner_text() == "随访队列"
    overdue = page.get_by_test_id("section-overdue")
    assert "已逾期" in overdue.inner_text()
    first = overdue.locator(".list-group-item").first
    assert "周一" in first.inner_text()  # the most urgent first
    screenshot(page, "followups-queue")
    first.locator("input[name=notes]").fill("伤口恢复良好")
    with page.expect_navigation():
        first.get_by_role("button", name="已联系上").click()
    assert "已完成：术后第1天电话随访 · 周一" in page.locator(".alert-success").inner_text()
    task = FollowUpTask.objects.get(patient__name="周一", step_index=0)
    assert (task.status, task.outcome, task.notes) == (TaskStatus.DONE, "reached", "伤口恢复良好")
    assert task.patient.touches.filter(kind="followup", summary__contains="已联系上").exists()
    screenshot(page, "followups-queue-after-complete")


def test_nurse_ticks_checklist_items(page, clinic, nurse, nurse_ward, make_patient):
    template = services.template_create(
        clinic=clinic,
        name="病房护理SOP",
        steps=[
            step("测量体温并记录", 0, "checklist", role="nurse"),
            step("检查伤口敷料", 0, "checklist", role="nurse"),
        ],
    )
    for name, disease in (("冯四", "甲状腺结节"), ("陈五", "乳腺结节")):
        services.plan_start(
            patient=make_patient(name=name, tags=[tag(clinic, disease)], ward=nurse_ward),
            template=template,
            anchor_date=clock.local_today(),
        )
    login(page, nurse.username)
    page.wait_for_url("**/nurse/")
    assert page.get_by_test_id("progress").inner_text() == "0 / 4"
    groups = page.get_by_test_id("group")
    assert groups.count() == 2 and "乳腺结节" in groups.first.inner_text()
    screenshot(page, "nurse-checklist")
    item = FollowUpTask.objects.get(patient__name="冯四", step_index=0)
    with page.expect_navigation():
        page.get_by_test_id(f"item-{item.pk}").get_by_role("button", name="勾选").click()
    assert page.get_by_test_id("progress").inner_text() == "1 / 4"
    assert f"{nurse.username} 于" in page.get_by_test_id(f"item-{item.pk}").inner_text()
    tick = ChecklistTick.objects.get()
    assert (tick.task_id, tick.by_id) == (item.pk, nurse.pk)
    screenshot(page, "nurse-checklist-after-tick")


def test_admin_sees_a_clear_error_for_a_negative_offset(page, clinic, admin_user, make_patient):
    template = post_op_template(clinic)
    plan, _ = services.plan_start(
        patient=make_patient(), template=template, anchor_date=clock.local_today()
    )
    login(page, admin_user.username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/followups/templates/{template.pk}/")
    page.fill("#id_steps-0-offset_days", "-5")
    with page.expect_navigation():
        page.get_by_role("button", name="保存").click()
    assert "第 1 步：偏移天数不能为负数（-5 天）。" in page.get_by_test_id("errors").inner_text()
    screenshot(page, "template-edit-error")
    template.refresh_from_db()
    assert template.current_version.number == 1
    assert plan.tasks.filter(status="open").count() == 3
