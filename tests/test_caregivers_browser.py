"""In the browser: the 家属 panel of the patient page adds a caregiver with the reminders ticked,
shows the phone masked, refuses a bad phone in Chinese, changes the reminders and removes them."""

import pytest

from patients.models import Caregiver
from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_caregiver_panel_adds_changes_and_removes(page, staff, make_patient):
    patient = make_patient(name="王秀英", assigned_assistant=staff["assistant"])
    login(page, staff["assistant"].username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    panel = page.get_by_test_id("caregivers")
    assert "暂无家属" in panel.inner_text()
    add = page.get_by_test_id("caregiver-add")
    add.locator("[name=name]").fill("李娟")
    add.locator("[name=relation]").select_option("child")
    add.locator("[name=phone]").fill("1234")
    add.get_by_label("预约提醒").check()
    add.get_by_role("button", name="添加").click()
    page.wait_for_load_state()
    alert = page.locator(".alert", has_text="家属未保存")
    assert "有效" in alert.inner_text()
    assert not Caregiver.objects.exists()

    add = page.get_by_test_id("caregiver-add")
    add.locator("[name=name]").fill("李娟")
    add.locator("[name=relation]").select_option("child")
    add.locator("[name=phone]").fill("13900138000")
    add.get_by_label("预约提醒").check()
    add.get_by_role("button", name="添加").click()
    page.wait_for_load_state()
    row = page.get_by_test_id("caregiver")
    assert row.get_by_test_id("caregiver-phone").inner_text() == "139****8000"
    assert "13900138000" not in page.content()
    caregiver = Caregiver.objects.get()
    assert caregiver.reminders == ["appointment"] and caregiver.relation == "child"
    screenshot(page, "patient-caregivers-panel")

    row.get_by_label("复诊提醒").check()
    row.get_by_role("button", name="保存").click()
    page.wait_for_load_state()
    caregiver.refresh_from_db()
    assert caregiver.reminders == ["appointment", "re_exam"]
    assert caregiver.phone == "+8613900138000"  # an empty phone box keeps the number

    page.get_by_test_id("caregiver").get_by_role("button", name="移除").click()
    page.wait_for_load_state()
    assert "暂无家属" in page.get_by_test_id("caregivers").inner_text()
    assert not Caregiver.objects.exists()
