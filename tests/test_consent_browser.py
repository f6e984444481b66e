"""In the browser: the patient page shows each consent (care, marketing) with how and when it
was given or withdrawn."""

import pytest

from patients.services import patient_update
from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_patient_page_shows_consent_per_purpose(page, staff, make_patient):
    patient = make_patient(name="周芳", assigned_assistant=staff["assistant"])
    patient_update(
        patient=patient,
        actor=staff["admin"],
        consent_marketing=False,
        consent_marketing_how="患者来电要求不再接收活动通知",
    )
    login(page, staff["assistant"].username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    consents = page.locator("#consents")
    text = consents.inner_text()
    assert "诊疗服务消息：同意" in text
    assert "营销：已撤回" in text and "患者来电要求不再接收活动通知" in text
    consents.scroll_into_view_if_needed()
    screenshot(page, "patient-consent-per-purpose")
