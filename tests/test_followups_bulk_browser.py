"""The workbench's "start a care plan" bulk action in Debian's chromium, in Chinese: two
patients selected, errors keep the selection, success clears it, one start counts the patient
who had the plan.
Screenshots go to test-artifacts/."""

from datetime import date

import pytest

from followups import services
from followups.models import CarePlan, CarePlanTemplate
from patients.models import Touch
from tests.conftest import login, screenshot
from tests.followups_factories import post_op_template

pytestmark = pytest.mark.django_db(transaction=True)

DAY0 = date(2026, 11, 20)


def test_assistant_starts_a_plan_for_two_selected_patients(page, assistant, clinic, make_patient):
    template = post_op_template(clinic)
    switched_off = post_op_template(clinic, name="停用的计划")
    CarePlanTemplate.objects.filter(pk=switched_off.pk).update(is_active=False)
    new = make_patient(name="选中新")
    had_it = make_patient(name="选中旧")
    make_patient(name="不选")
    services.plan_start(patient=had_it, template=template, anchor_date=DAY0)

    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.wait_for_function("document.getElementById('patient-count').textContent === '3'")
    page.get_by_label("选中新").check()
    page.get_by_label("选中旧").check()
    plan_select = page.get_by_label("要启动的随访计划")
    plan_select.locator("option", has_text="术后随访").wait_for(state="attached")
    assert plan_select.locator("option", has_text="停用的计划").count() == 0  # active only
    page.get_by_label("起算日期").fill(DAY0.isoformat())

    # No template chosen: a Chinese error, nothing sent, the selection kept.
    page.get_by_role("button", name="启动计划").click()
    page.locator(".cl-status.alert-danger", has_text="请选择要启动的 SOP 模板。").wait_for()

    # The template was switched off meanwhile: the API's error, in Chinese; nothing started.
    plan_select.select_option(label="术后随访")
    CarePlanTemplate.objects.filter(pk=template.pk).update(is_active=False)
    page.get_by_role("button", name="启动计划").click()
    page.locator(".cl-status.alert-danger", has_text="该随访计划模板已停用。").wait_for()
    assert not CarePlan.objects.filter(patient=new).exists()
    assert page.locator("#selected-count").inner_text() == "已选 2 位"
    assert page.get_by_label("选中新").is_checked() and page.get_by_label("选中旧").is_checked()
    screenshot(page, "workbench-plan-error")

    CarePlanTemplate.objects.filter(pk=template.pk).update(is_active=True)
    page.get_by_role("button", name="启动计划").click()
    page.get_by_text("已为 1 位患者启动随访计划，1 位此前已启动").wait_for()
    # The list reloads (the follow-up filter and figures may have changed); done, the
    # selection is cleared, so a next action cannot reach rows that left the list.
    page.wait_for_function("document.querySelectorAll('[data-testid=patient-row]').length === 3")
    page.locator("#bulk").wait_for(state="hidden")
    assert not page.get_by_label("选中新").is_checked()
    screenshot(page, "workbench-plan-started")

    plan = CarePlan.objects.get(patient=new)
    assert plan.template == template and plan.anchor_date == DAY0 and plan.started_by == assistant
    assert plan.tasks.count() == 3
    assert CarePlan.objects.filter(patient=had_it).count() == 1
    assert not CarePlan.objects.filter(patient__name="不选").exists()
    for patient in (new, had_it):
        assert Touch.objects.filter(patient=patient, payload__event="plan_started").count() == 1
