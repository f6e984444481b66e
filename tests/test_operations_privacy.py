"""Operations works on what marketing needs and sees nothing clinical (README: role × data): no
amounts paid on the dashboard, no follow-up notes, and no calls, notes or visits to record —
the API refuses them and the patient page does not offer them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from patients import services

pytestmark = pytest.mark.django_db


def test_the_dashboard_leaves_the_amounts_out_for_operations(api, staff, make_patient):
    patient = make_patient()
    services.visit_record(
        patient=patient,
        visit_date=timezone.localdate() - timedelta(days=1),
        kind="first",
        amount=Decimal("300.00"),
        actor=staff["doctor"],
    )
    [admin_row] = api(staff["admin"]).get("/api/dashboard/").json()["cohorts"]
    assert admin_row["amount"] == "300.00" and admin_row["amount_per_patient"] == "300.00"
    response = api(staff["operations"]).get("/api/dashboard/")
    assert response.status_code == 200
    [row] = response.json()["cohorts"]
    assert row["amount"] is None and row["amount_per_patient"] is None
    assert row["patients"] == 1 and row["visits_per_patient"] == 1  # the rest stays
