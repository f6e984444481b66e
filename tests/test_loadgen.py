"""The benchmark dataset generator, on a small scale: deterministic, consistent with the
services' rows, and usable by the app (the list API reads it)."""

import pytest
from django.core.management import call_command

from crm.models import Clinic
from patients.models import Patient, StageTransition, Touch

pytestmark = pytest.mark.django_db(transaction=True)


def test_generate_load_builds_a_consistent_clinic(api):
    call_command("generate_load", patients=300, touches=3000, seed=5, clinic="bench", staff=20)
    clinic = Clinic.objects.get(slug="bench")
    patients = Patient.objects.filter(clinic=clinic)
    assert patients.count() == 300
    assert 2000 < Touch.objects.filter(clinic=clinic).count() < 4500
    # Every patient's current stage is the target of its latest transition.
    for patient in patients.order_by("?")[:20]:
        assert patient.transitions.order_by("-at", "-id").first().to_stage == patient.stage
        assert patient.phone.startswith("+861") and patient.phone_masked.endswith(
            patient.phone[-4:]
        )
    # The app reads it: search by phone tail through the API.
    someone = patients.first()
    admin = clinic.memberships.filter(role="admin").first().user
    found = api(admin).get("/api/patients/", {"q": someone.phone[-4:]}).json()
    assert someone.pk in {row["id"] for row in found["results"]}
    # New rows after a bulk load get fresh ids (sequences were moved past the loaded ones).
    assert StageTransition.objects.create(clinic=clinic, patient=someone, to_stage="lead").pk > 0


def test_generate_load_is_deterministic():
    call_command("generate_load", patients=50, touches=400, seed=9, clinic="one", staff=10)
    call_command("generate_load", patients=50, touches=400, seed=9, clinic="two", staff=10)
    one = list(
        Patient.objects.filter(clinic__slug="one")
        .order_by("id")
        .values_list("name", "stage", "phone_last4")
    )
    two = list(
        Patient.objects.filter(clinic__slug="two")
        .order_by("id")
        .values_list("name", "stage", "phone_last4")
    )
    assert one == two
