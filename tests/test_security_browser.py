"""The security pages in Chromium: the audit log page with its filters, the patient page's data
rights card, and the workbench's search that never reaches a URL. Screenshots in test-artifacts/."""

import pytest

from crm.models import AuditAction, AuditEvent
from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_reads_and_filters_the_audit_log(page, admin_user, doctor, make_patient):
    patient = make_patient(name="审计患者", phone="13900001234")
    AuditEvent.objects.create(
        clinic_id=patient.clinic_id,
        user=doctor,
        action=AuditAction.REVEAL_PHONE,
        object_type="patient",
        object_id=str(patient.pk),
    )
    login(page, admin_user.username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")  # opening the record is audited
    page.get_by_test_id("privacy").wait_for()
    screenshot(page, "security-patient-privacy")
    page.goto("/settings/audit/")
    # The reveal, and opening the record: the page and its timeline's first page.
    assert page.get_by_test_id("audit-row").count() == 3
    page.get_by_label("操作").select_option("reveal_phone")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**action=reveal_phone**")
    rows = page.get_by_test_id("audit-row")
    assert rows.count() == 1 and "查看完整手机号" in rows.first.inner_text()
    assert "a-doctor" in rows.first.inner_text()
    screenshot(page, "security-audit-log")


def test_the_workbench_search_never_reaches_a_url(page, assistant, make_patient):
    make_patient(name="欧阳娜娜", phone="13912348000")
    make_patient(name="别人", phone="13700000001")
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.get_by_label("搜索").fill("欧阳")
    page.wait_for_function("document.getElementById('patient-count').textContent === '1'")
    page.get_by_label("搜索").fill("13912348000")
    page.wait_for_function("sessionStorage.getItem('careloop.workbench.q') === '13912348000'")
    page.wait_for_function("document.getElementById('patient-count').textContent === '1'")
    with page.expect_download() as download:
        page.click("#export-csv")
    assert download.value.suggested_filename.startswith("patients-")
    joined = "\n".join(urls)
    assert "13912348000" not in joined and "%E6%AC%A7" not in joined and "q=" not in joined
    # Reloaded, the tab remembers its search.
    page.reload()
    page.wait_for_function("document.getElementById('patient-count').textContent === '1'")
    assert page.get_by_label("搜索").input_value() == "13912348000"
    screenshot(page, "security-workbench-search")
