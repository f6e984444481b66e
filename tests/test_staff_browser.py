"""In Debian's Chromium: an admin adds a staff member on /settings/staff/ who then signs in; the
navigation collapses on a phone; the workbench's bulk selection never outlives what is shown.
Screenshots go to test-artifacts/."""

import pytest

from crm.models import Membership
from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

STRONG = "Kangfu-2026-hushi"


def test_admin_adds_a_nurse_who_then_signs_in(page, admin_user, nurse_ward):
    login(page, admin_user.username)
    page.wait_for_url("**/workbench/")
    page.get_by_role("button", name="设置").click()
    page.get_by_role("link", name="员工").click()
    page.wait_for_url("**/settings/staff/")
    page.get_by_label("用户名").fill("chen-nurse")
    page.get_by_label("显示名称").fill("陈护士")
    page.get_by_label("角色").select_option("nurse")
    page.get_by_label("病区（护士）").select_option(label="一病区")
    # A weak password first: refused in Chinese, on its field, nothing created.
    page.get_by_label("初始密码").fill("1234")
    page.get_by_role("button", name="添加员工").click()
    page.locator("[data-testid=field-error][data-field=password]").first.wait_for()
    assert (
        "密码太短"
        in page.locator("[data-testid=field-error][data-field=password]").first.inner_text()
    )
    assert page.get_by_label("显示名称").input_value() == "陈护士"  # kept for the correction
    screenshot(page, "staff-weak-password")
    assert not Membership.objects.filter(user__username="chen-nurse").exists()

    page.get_by_label("初始密码").fill(STRONG)
    page.get_by_role("button", name="添加员工").click()
    page.get_by_text("陈护士 现在可以登录了。").wait_for()
    row = page.locator("[data-testid=staff-row][data-username=chen-nurse]")
    assert "护士" in row.inner_text() and "一病区" in row.inner_text()
    screenshot(page, "staff-list")

    page.get_by_role("button", name="退出").click()
    login(page, "chen-nurse", STRONG)
    page.wait_for_url("**/nurse/")
    assert "陈护士" in page.locator(".cl-who").inner_text()


def test_deactivation_lists_the_handover_in_the_browser(page, admin_user, doctor, make_patient):
    from crm.services import staff_create

    staff_create(
        clinic=doctor.memberships.get().clinic,
        username="doc2",
        password=STRONG,
        role="doctor",
        display_name="孙医生",
    )
    make_patient(name="魏博雨", assigned_doctor=doctor)
    login(page, admin_user.username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/settings/staff/{doctor.memberships.get().pk}/")
    screenshot(page, "staff-detail")
    page.get_by_role("link", name="停用…").click()
    assert page.get_by_test_id("count-doctor").inner_text() == "1"
    page.get_by_label("交接给").select_option(label="孙医生")
    screenshot(page, "staff-handover")
    page.get_by_role("button", name="交接并停用").click()
    page.get_by_text("孙医生 接手了 1 位患者").wait_for()
    doctor.refresh_from_db()
    assert not doctor.is_active


def test_the_navigation_collapses_on_a_phone(browser, live_server, assistant):
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    try:
        login(page, assistant.username)
        page.wait_for_url("**/workbench/")
        followups = page.locator("#cl-nav").get_by_role("link", name="随访")
        toggler = page.get_by_role("button", name="菜单")
        assert toggler.is_visible() and not followups.is_visible()
        screenshot(page, "phone-nav-closed")
        toggler.click()
        page.locator("#cl-nav.collapse.show").wait_for()  # Bootstrap's animation is over
        assert followups.is_visible() and page.get_by_role("button", name="退出").is_visible()
        screenshot(page, "phone-nav-open")
        followups.click()
        page.wait_for_url("**/followups/queue/")
    finally:
        context.close()


def test_bulk_selection_never_outlives_what_is_shown(page, assistant, clinic, make_patient):
    chosen = [make_patient(name=f"批量{i}") for i in range(2)]
    make_patient(name="其他")
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.wait_for_function("document.getElementById('patient-count').textContent === '3'")
    for patient in chosen:
        page.get_by_label(patient.name).check()
    assert page.locator("#selected-count").inner_text() == "已选 2 位"

    # A filter that hides one selected row: the selection is cleared with the rows it hid.
    page.get_by_label("搜索").fill("批量0")
    page.wait_for_function("document.getElementById('patient-count').textContent === '1'")
    page.locator("#bulk").wait_for(state="hidden")
    page.get_by_label("批量0").check()
    assert page.locator("#selected-count").inner_text() == "已选 1 位"

    page.get_by_label("添加标签", exact=True).select_option(label="高血压")
    page.get_by_role("button", name="应用到所选患者").click()
    page.get_by_text("已选 1 位患者，其中 1 位已更新。").wait_for()
    page.locator("#bulk").wait_for(state="hidden")
    assert not page.get_by_label("批量0").is_checked()
    screenshot(page, "workbench-bulk-cleared")
    assert list(chosen[0].tags.names()) == ["高血压"]
    assert not chosen[1].tags.exists()


def test_the_patient_timeline_in_english(browser, live_server, assistant, make_patient):
    from patients import services

    patient = make_patient(name="魏博雨")
    services.patient_set_stage(patient=patient, stage="booked", actor=assistant, reason="电话预约")
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": 1366, "height": 860}
    )
    page = context.new_page()
    try:
        login(page, assistant.username)
        page.wait_for_url("**/workbench/")
        page.goto(f"/patients/{patient.pk}/")
        page.locator("#timeline li", has_text="Stage: Lead → Booked (电话预约)").wait_for()
        assert page.locator("#timeline li", has_text="Patient record created").count() == 1
        assert page.locator("#timeline li", has_text="阶段").count() == 0
        screenshot(page, "timeline-english")
    finally:
        context.close()
