"""In the browser (Debian's Chromium): an assistant edits the patient's 手术日期 on the patient
page, a bad number is refused naming the field, and the plan counting from the date moves;
the workbench filters on the field. Screenshots go to test-artifacts/."""

import pytest

from followups import services as followups
from followups.models import Anchor, CarePlan
from patients.fields import services as fields
from patients.fields.models import FieldKind
from tests.conftest import login, screenshot
from tests.followups_factories import step

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_assistant_edits_a_custom_field_on_the_patient_page(page, assistant, clinic, make_patient):
    surgery = fields.field_create(clinic=clinic, name="手术日期", kind=FieldKind.DATE)
    score = fields.field_create(clinic=clinic, name="疼痛评分", kind=FieldKind.NUMBER)
    patient = make_patient(name="周立新", assigned_assistant=assistant)
    other = make_patient(name="吴桂英")
    fields.field_values_set(patient=patient, values={surgery: "2026-12-01"})
    template = followups.template_create(
        clinic=clinic,
        name="术后随访（按手术日期）",
        anchor=Anchor.FIELD,
        anchor_field=surgery,
        steps=[step("术后第1天电话随访", 1), step("术后第7天电话随访", 7)],
    )
    followups.plan_start(patient=patient, template=template)

    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    value = page.locator('[data-testid=field-value][data-field="手术日期"]')
    assert value.inner_text() == "2026-12-01"
    page.get_by_test_id("edit-fields").click()
    page.wait_for_url(f"**/patients/{patient.pk}/edit/**")
    page.get_by_label("手术日期").fill("2026-12-04")
    page.get_by_label("疼痛评分").fill("很痛")
    page.get_by_test_id("save-patient").click()
    error = page.locator(f'[data-testid=field-error][data-field="{score.param}"]')
    assert "“疼痛评分”：“很痛”不是数字。" in error.inner_text()
    screenshot(page, "patient-fields-refused")
    assert CarePlan.objects.get().anchor_date.isoformat() == "2026-12-01"

    page.get_by_label("疼痛评分").fill("3")
    page.get_by_test_id("save-patient").click()
    # The edit page's #fields stays on the redirect.
    page.wait_for_url(f"**/patients/{patient.pk}/#fields")
    assert value.inner_text() == "2026-12-04"
    page.get_by_text("随手术日期调整：2026-12-01 → 2026-12-04").first.wait_for()
    screenshot(page, "patient-fields-saved")
    assert CarePlan.objects.get().anchor_date.isoformat() == "2026-12-04"

    # The workbench lists the patients operated on that day.
    page.goto("/workbench/")
    page.select_option("#f-field", str(surgery.pk))
    page.fill("#f-field-from", "2026-12-04")
    page.fill("#f-field-to", "2026-12-04")
    page.get_by_role("button", name="筛选", exact=True).click()
    page.wait_for_url("**field=*")
    rows = page.locator("#patient-rows")
    rows.get_by_text("周立新").wait_for()
    assert rows.get_by_text(other.name).count() == 0
    screenshot(page, "patient-fields-workbench")
