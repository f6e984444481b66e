import pytest

from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_assistant_logs_in_and_reaches_the_workbench(page, assistant, make_patient):
    make_patient(name="测试患者")
    page.goto("/")
    assert "登录" in page.title()
    screenshot(page, "login")
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    assert page.get_by_test_id("clinic").inner_text() == "甲诊所"
    assert page.get_by_test_id("who").inner_text() == assistant.username
    page.wait_for_function("document.getElementById('patient-count').textContent === '1'")
    screenshot(page, "workbench-placeholder")


def test_wrong_password_shows_an_error_in_chinese(page, assistant):
    login(page, assistant.username, "wrong-password")
    assert "请输入一个正确的" in page.locator(".alert-danger").inner_text()


def test_language_switch_to_english(page, doctor):
    login(page, doctor.username)
    page.wait_for_url("**/dashboard/")
    with page.expect_navigation():
        page.select_option("select[name=language]", "en")
    assert "Retention dashboard" in page.content()
    page.wait_for_function("document.getElementById('kpi-referral-sub').textContent !== ''")
    assert "new patients" in page.locator("#kpi-referral-sub").inner_text()
    screenshot(page, "dashboard-english")
