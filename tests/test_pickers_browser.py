"""Pickers never stop at row 200 (issue 18): a picker of a clinic's care plan templates loads
every page of the list (CL.pages follows DRF's `next`), and a picker of patients searches the
server as one types. In Debian's chromium, in Chinese; screenshots in test-artifacts/."""

import pytest

from followups.models import CarePlan
from tests.conftest import login, screenshot
from tests.followups_factories import post_op_template

pytestmark = pytest.mark.django_db(transaction=True)

MANY = 205  # more than the API's largest page (crm.api: max_page_size = 200)


def test_the_201st_care_plan_template_can_be_started(page, clinic, assistant, make_patient):
    for n in range(1, MANY + 1):
        post_op_template(clinic, name=f"SOP-{n:03d}")
    patient = make_patient(name="吴十")
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")

    # The workbench's bulk "start a care plan" lists them all too.
    page.wait_for_function(
        f"document.querySelectorAll('#b-plan option[value]:not([value=\"\"])').length === {MANY}"
    )

    page.goto(f"/patients/{patient.pk}/")
    panel = page.get_by_test_id("followups")
    picker = panel.get_by_label("启动随访计划")
    # Templates are listed by name: SOP-201 is the first row of the API's second page.
    page.wait_for_function(
        "document.querySelectorAll('#fu-template option[value]:not([value=\"\"])').length"
        f" === {MANY}"
    )
    picker.select_option(label="SOP-201")
    panel.get_by_role("button", name="启动计划").click()
    done = panel.get_by_test_id("followups-done")
    done.wait_for()
    assert "随访计划已启动：SOP-201" in done.inner_text()
    assert CarePlan.objects.get(patient=patient).template.name == "SOP-201"
    screenshot(page, "picker-201st-template")


def test_the_preview_patient_picker_searches_past_the_first_page(
    page, clinic, assistant, make_patient
):
    from content.templates_service import message_template_save

    wanted = make_patient(name="欧阳娜娜")  # the oldest: last in every newest-first page
    for _ in range(MANY):
        make_patient(name="张三")
    message_template_save(clinic=clinic, name="问候", body="{姓名}您好。")
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto("/content/templates/")
    picker = page.get_by_test_id("preview-patient")
    page.wait_for_function("document.querySelectorAll('#preview-patient option').length > 0")
    # The first answer is one page and says there are more; the wanted patient is not in it.
    assert picker.locator(f"option[value='{wanted.pk}']").count() == 0
    assert "继续输入" in picker.inner_text()
    page.get_by_test_id("preview-patient-search").fill("欧阳")
    page.wait_for_function(f"document.querySelector('#preview-patient').value === '{wanted.pk}'")
    page.click("button[data-preview]")
    preview = page.locator(".cl-preview")
    preview.wait_for(state="visible")
    assert preview.inner_text().startswith("欧阳娜娜您好。")
    screenshot(page, "picker-patient-search")
