"""The patient page's follow-ups panel and the workbench's "open follow-ups" filter on the
demo data, in Debian's chromium, in Chinese. Screenshots go to test-artifacts/."""

import pytest
from django.core.management import call_command

from followups import clock
from followups.models import CarePlan, FollowUpTask, TaskStatus
from patients.models import Patient
from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

DEMO_PASSWORD = "CareLoop-demo-1"  # documented in the README, demo data only


@pytest.fixture
def demo():
    call_command("seed_demo", patients=60)
    call_command("seed_demo_followups")


def open_tasks(patient):
    return FollowUpTask.objects.filter(patient=patient, status=TaskStatus.OPEN)


def test_assistant_sees_open_tasks_and_starts_a_plan(page, demo):
    # A post-op patient operated on days ago: calls overdue, the re-exam and day 30 ahead.
    patient = next(
        p
        for p in Patient.objects.filter(care_plans__template__name="术后随访").order_by("id")
        if any(t.is_overdue() for t in open_tasks(p))
    )
    shown_before = open_tasks(patient).count()
    login(page, "assistant", DEMO_PASSWORD)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    panel = page.get_by_test_id("followups")
    tasks = panel.get_by_test_id("followup-task")
    tasks.first.wait_for()
    assert tasks.count() == shown_before
    overdue = panel.locator("[data-overdue=true]")
    assert overdue.count() == sum(t.is_overdue() for t in open_tasks(patient)) > 0
    assert "已逾期" in overdue.first.inner_text()
    first = open_tasks(patient).order_by("due_at", "id").first()
    assert first.title in tasks.first.inner_text()
    assert clock.local(first.due_at).strftime("%Y-%m-%d %H:%M") in tasks.first.inner_text()
    assert tasks.first.get_by_role("link", name="去随访队列").get_attribute("href") == (
        "/followups/queue/"
    )
    assert "术后随访" in panel.get_by_test_id("care-plans").inner_text()
    screenshot(page, "followups-panel-before")

    panel.get_by_label("启动随访计划").select_option(label="病房护理SOP")
    panel.get_by_role("button", name="启动计划").click()
    today = clock.local_today().isoformat()
    done = panel.get_by_test_id("followups-done")
    done.wait_for()
    assert done.inner_text() == f"随访计划已启动：病房护理SOP（自 {today} 起）"
    page.wait_for_function(
        f"document.querySelectorAll('[data-testid=followup-task]').length === {shown_before + 3}"
    )
    assert "测量体温并记录" in panel.get_by_test_id("followup-tasks").inner_text()
    checklist_item = tasks.filter(has_text="测量体温并记录")
    assert checklist_item.get_by_role("link", name="去护理清单").is_visible()
    assert "病房护理SOP" in panel.get_by_test_id("care-plans").inner_text()
    # The plan start's timeline entry, written by the service in the same transaction.
    timeline = page.get_by_test_id("timeline")
    timeline.get_by_text(f"随访计划已启动：病房护理SOP（自 {today} 起）").wait_for()
    plan = CarePlan.objects.get(patient=patient, template__name="病房护理SOP")
    assert plan.started_by.username == "assistant" and plan.tasks.count() == 3
    screenshot(page, "followups-panel-after-start")

    # The same plan from the same day again: the API's error, in Chinese, in the panel.
    panel.get_by_label("启动随访计划").select_option(label="病房护理SOP")
    panel.get_by_role("button", name="启动计划").click()
    error = panel.get_by_test_id("followups-error")
    error.wait_for()
    assert error.inner_text() == "该患者已从这一天启动过此随访计划。"
    assert CarePlan.objects.filter(patient=patient, template__name="病房护理SOP").count() == 1
    screenshot(page, "followups-panel-error")


def test_patient_without_tasks_gets_the_empty_state(page, demo):
    patient = Patient.objects.exclude(followup_tasks__status=TaskStatus.OPEN).order_by("id").first()
    login(page, "doctor", DEMO_PASSWORD)
    page.wait_for_url("**/dashboard/")
    page.goto(f"/patients/{patient.pk}/")
    empty = page.get_by_test_id("followups-empty")
    empty.wait_for()
    assert empty.inner_text() == "该患者暂无待办随访。"
    assert page.get_by_test_id("followup-task").count() == 0
    screenshot(page, "followups-panel-empty")


def test_workbench_filters_by_open_followups(page, demo):
    with_open = Patient.objects.with_open_followups()
    total, n_open = Patient.objects.count(), with_open.count()
    assert 0 < n_open < total
    login(page, "assistant", DEMO_PASSWORD)
    page.wait_for_url("**/workbench/")
    count = "document.getElementById('patient-count').textContent === '%s'"
    page.wait_for_function(count % total)
    page.get_by_label("待办随访").select_option(label="有待办随访")
    page.wait_for_function(count % n_open)
    assert "has_open_followups=true" in page.url
    shown = page.get_by_test_id("patient-row").first.get_by_role("link").inner_text()
    assert with_open.filter(name=shown).exists()
    screenshot(page, "followups-workbench-filter")
    page.get_by_label("待办随访").select_option(label="无待办随访")
    page.wait_for_function(count % (total - n_open))
    assert "has_open_followups=false" in page.url
    # A bookmarked view keeps the filter.
    page.reload()
    page.wait_for_function(count % (total - n_open))
    assert page.get_by_label("待办随访").input_value() == "false"


def test_nurse_combines_her_ward_and_open_followups(page, demo):
    hers = Patient.objects.filter(ward__nurses__user__username="nurse")
    ward = hers.first().ward
    expected = hers.filter(ward=ward).with_open_followups().count()
    login(page, "nurse", DEMO_PASSWORD)
    page.wait_for_url("**/nurse/")
    page.goto("/workbench/")
    count = "document.getElementById('patient-count').textContent === '%s'"
    page.wait_for_function(count % hers.count())
    page.get_by_label("病区").select_option(str(ward.pk))
    page.get_by_label("待办随访").select_option("true")
    page.wait_for_function(count % expected)
    assert f"ward={ward.pk}" in page.url and "has_open_followups=true" in page.url
    screenshot(page, "followups-workbench-nurse")


def test_without_templates_the_panel_says_why_and_starts_nothing(
    page, clinic, assistant, make_patient
):
    patient = make_patient(name="新诊所患者")
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    form = page.get_by_test_id("plan-start")
    form.get_by_text("还没有启用的随访模板").wait_for()
    assert form.get_by_role("button", name="启动计划").is_disabled()
    assert page.get_by_test_id("followups-error").is_hidden()
    screenshot(page, "followups-panel-no-template")
