"""Operations in the browser: the dashboard's cohort table has no money column, and the patient
page offers no call, note or visit form (the API refuses them)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from patients import services
from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_operations_sees_no_money_column_and_no_clinical_forms(page, staff, make_patient):
    patient = make_patient(name="王秀英")
    services.visit_record(
        patient=patient,
        visit_date=timezone.localdate() - timedelta(days=1),
        kind="first",
        amount=Decimal("300.00"),
        actor=staff["doctor"],
    )
    login(page, staff["operations"].username)
    page.goto("/dashboard/")
    table = page.locator("#cohorts")
    table.locator("tbody tr").first.wait_for()
    head = table.locator("thead").inner_text()
    assert "人均就诊次数" in head
    assert "人均消费" not in head and "300" not in table.inner_text()
    screenshot(page, "operations-dashboard-cohorts")

    page.goto(f"/patients/{patient.pk}/")
    page.get_by_test_id("visits").wait_for()
    assert page.locator("#visit-form").count() == 0
    assert page.locator("#call-form").count() == 0 and page.locator("#note-form").count() == 0
    assert page.get_by_text("记录就诊").count() == 0
    screenshot(page, "operations-patient-page")
