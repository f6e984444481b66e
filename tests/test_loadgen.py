"""The benchmark dataset generator, on a small scale: deterministic, consistent with the
services' rows, and usable by the app (the list API reads it)."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.models import Clinic
from followups import clock
from followups.models import CarePlan, FollowUpTask, ReminderState, TaskStatus
from patients.models import Patient, StageTransition, Touch
from wechat.models import Delivery, DeliveryStatus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


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
    # An assistant: an admin would first need a second factor, which generate_load's staff lack.
    assistant = clinic.memberships.filter(role="assistant").first().user
    found = api(assistant).get("/api/patients/", {"q": someone.phone[-4:]}).json()
    assert someone.pk in {row["id"] for row in found["results"]}
    # New rows after a bulk load get fresh ids (sequences were moved past the loaded ones).
    assert StageTransition.objects.create(clinic=clinic, patient=someone, to_stage="lead").pk > 0


def test_generate_load_makes_tasks_deliveries_and_the_morning_batch(api):
    call_command(
        "generate_load", patients=400, touches=4000, seed=3, clinic="f", staff=20, due_at_nine=150
    )
    clinic = Clinic.objects.get(slug="f")
    tasks = FollowUpTask.objects.filter(clinic=clinic)
    statuses = set(tasks.values_list("status", flat=True))
    assert {TaskStatus.OPEN, TaskStatus.DONE} <= statuses
    assert tasks.overdue().exists()
    assert tasks.filter(plan__isnull=False, due_at__gt=timezone.now()).exists()
    assert CarePlan.objects.filter(clinic=clinic).count() > 80
    # Every plan task belongs to its plan's patient, at its step.
    plan_task = tasks.exclude(plan=None).select_related("plan").first()
    assert plan_task.plan.patient_id == plan_task.patient_id and plan_task.step_index is not None
    # The morning batch: open, reminder pending, due at 09:00 clinic time, reachable patients.
    batch = tasks.filter(plan=None)
    assert batch.count() == 150
    due = {clock.local(at).time().isoformat() for at in batch.values_list("due_at", flat=True)}
    assert due == {"09:00:00"}
    assert set(batch.values_list("reminder_state", flat=True)) == {ReminderState.PENDING}
    assert not batch.filter(patient__consent_to_contact=False).exists()
    assert not batch.filter(patient__external_userid="").exists()
    # Reminders that were due are in the outbox, pointing at their task; sent ones have sent_at.
    enqueued = tasks.filter(reminder_state=ReminderState.ENQUEUED)
    assert enqueued.exists()
    for task in enqueued[:20]:
        delivery = Delivery.objects.get(pk=task.reminder_delivery_id)
        assert delivery.idempotency_key == f"followup:{task.pk}:reminder"
        assert delivery.patient_id == task.patient_id and delivery.body == task.message
    deliveries = Delivery.objects.filter(clinic=clinic)
    assert deliveries.filter(status=DeliveryStatus.SENT).count() > deliveries.count() * 0.8
    assert not deliveries.filter(status=DeliveryStatus.SENT, sent_at=None).exists()
    # The app reads them: an assistant's queue through the API.
    assistant = tasks.filter(status=TaskStatus.OPEN).exclude(assignee=None).first().assignee
    response = api(assistant).get("/api/followup-tasks/")
    assert response.status_code == 200, response.content


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
    tasks = [
        list(
            FollowUpTask.objects.filter(clinic__slug=slug)
            .order_by("id")
            .values_list("title", "status", "due_at", "reminder_state")
        )
        for slug in ("one", "two")
    ]
    assert tasks[0] and [row[:2] for row in tasks[0]] == [row[:2] for row in tasks[1]]
