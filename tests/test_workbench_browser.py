"""The browser, end to end (Playwright on Debian's Chromium): the assistant's day and the
doctor's dashboard. Screenshots go to test-artifacts/ for a person to look at."""

import re

import pytest

from crm.models import Role
from patients.choices import TouchKind
from patients.demo import seed_patients
from patients.models import Patient, Touch
from tests.conftest import login, make_staff, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_assistant_finds_tags_and_calls_a_patient(page, assistant, clinic, make_patient):
    target = make_patient(name="刘晓梅", phone="13912348000")
    for i in range(6):
        make_patient(name=f"陈{i}号", phone=f"1370000{i:04d}")
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.wait_for_function("document.getElementById('patient-count').textContent === '7'")
    screenshot(page, "workbench")

    page.get_by_label("搜索").fill("8000")
    page.wait_for_function("document.getElementById('patient-count').textContent === '1'")
    # The search stays out of the URL (access logs, history); the tab remembers it.
    assert "8000" not in page.url
    assert page.evaluate("sessionStorage.getItem('careloop.workbench.q')") == "8000"
    page.get_by_role("link", name="刘晓梅").click()
    page.wait_for_url(f"**/patients/{target.pk}/")
    assert page.get_by_test_id("phone").inner_text() == "139****8000"

    page.get_by_label("失眠").check()
    page.get_by_role("button", name="保存标签").click()
    page.wait_for_selector(".cl-status.alert-success")
    page.wait_for_selector("#timeline li:has-text('+失眠')")
    assert list(target.tags.names()) == ["失眠"]

    page.get_by_label("结果", exact=True).select_option("reached")
    page.get_by_label("沟通内容", exact=True).fill("术后恢复良好，下周复查")
    page.get_by_role("button", name="记录电话").click()
    newest = page.locator("#timeline li").first
    newest.filter(has_text="已接通：术后恢复良好").wait_for()
    assert "电话" in newest.inner_text()
    call = Touch.objects.get(patient=target, kind=TouchKind.CALL)
    assert call.summary == "已接通：术后恢复良好，下周复查" and call.actor == assistant
    screenshot(page, "patient-page")


def test_doctor_changes_the_period_and_the_figures_change(page, doctor, clinic):
    nurse = make_staff(clinic, Role.NURSE, "dashboard-nurse")
    seed_patients(clinic=clinic, count=80, doctors=[doctor], assistants=[nurse], seed=7)
    login(page, doctor.username)
    page.wait_for_url("**/dashboard/")
    figures = ["kpi-revisit", "kpi-referral", "kpi-churn"]

    def read():
        return {
            f: page.get_by_test_id(f).inner_text() + page.locator(f"#{f}-sub").inner_text()
            for f in figures
        }

    page.wait_for_function("document.getElementById('kpi-referral-sub').textContent !== ''")
    year = read()
    screenshot(page, "dashboard-year")
    # Read before the click: the figures may change before a read after it would run.
    before = page.locator("#kpi-referral-sub").inner_text()
    page.get_by_role("button", name="近 30 天").click()
    page.wait_for_function(
        "(before) => document.getElementById('kpi-referral-sub').textContent !== before",
        arg=before,
    )
    month = read()
    assert month != year
    assert re.search(r"start=\d{4}-\d{2}-\d{2}", page.url)  # the period is in the URL
    page.get_by_text("定义").first.click()
    assert page.get_by_text("首诊日期在所选时间范围内的患者中").is_visible()
    screenshot(page, "dashboard-month")


def test_assistant_sees_import_errors_per_row_before_anything_is_written(page, assistant, tmp_path):
    bad = tmp_path / "患者名单.csv"
    bad.write_bytes(
        "姓名,手机号,性别,标签\n张三,13800138000,男,糖尿病\n李四,12345,女,\n".encode("gbk")
    )
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.get_by_role("link", name="导入患者").click()
    page.get_by_label("Excel（.xlsx）或 CSV 文件").set_input_files(str(bad))
    page.get_by_role("button", name="上传并对应列").click()
    assert page.get_by_label("姓名 *").input_value() == "0"  # columns matched by their names
    page.get_by_role("button", name="3. 试运行").click()
    page.get_by_text("第3行：手机号格式不正确").wait_for()
    assert page.get_by_test_id("import-errors").inner_text() == "1"
    assert page.get_by_role("button", name=re.compile("立即导入")).count() == 0
    assert not Patient.objects.exists()
    screenshot(page, "import-dry-run")


def test_assistant_tags_a_selection_in_one_go(page, assistant, clinic, make_patient):
    patients = [make_patient(name=f"批量{i}") for i in range(3)]
    make_patient(name="不选")
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.wait_for_function("document.getElementById('patient-count').textContent === '4'")
    assert page.locator("#bulk").is_hidden()
    for patient in patients:
        page.get_by_label(patient.name).check()
    page.get_by_label("添加标签", exact=True).select_option(label="高血压")
    page.get_by_role("button", name="应用到所选患者").click()
    page.get_by_text("已选 3 位患者，其中 3 位已更新。").wait_for()
    page.locator("tr", has_text="批量0").locator(".cl-tag", has_text="高血压").wait_for()
    screenshot(page, "workbench-bulk")
    assert [list(p.tags.names()) for p in patients] == [["高血压"]] * 3
    assert not clinic.patients.get(name="不选").tags.exists()
