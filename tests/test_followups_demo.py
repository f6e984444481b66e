import pytest
from django.core.management import call_command

from followups.appointment_models import Appointment
from followups.models import CarePlan, CarePlanTemplate, FollowUpTask

pytestmark = pytest.mark.django_db


def test_seed_demo_followups_is_idempotent():
    call_command("seed_demo", patients=60)
    call_command("seed_demo_followups")
    counts = (
        CarePlanTemplate.objects.count(),
        CarePlan.objects.count(),
        FollowUpTask.objects.filter(plan__isnull=False).count(),
        Appointment.objects.count(),
        FollowUpTask.objects.filter(plan__isnull=True).count(),
    )
    # With the plan counting from 手术日期 (10 patients, 3 steps).
    assert counts[0] == 5 and counts[1] == 50 and counts[2] == 15 * 3 + 10 * 3 + 15 + 10 * 3
    # Appointments: 8 booked this week, 8 in the past week (arrived, or a no-show and its call).
    statuses = list(Appointment.objects.values_list("status", flat=True))
    assert counts[3] == 16 and statuses.count("booked") == 8
    assert counts[4] == statuses.count("no_show") > 0 and statuses.count("arrived") > 0
    call_command("seed_demo_followups")
    assert (
        CarePlanTemplate.objects.count(),
        CarePlan.objects.count(),
        FollowUpTask.objects.filter(plan__isnull=False).count(),
        Appointment.objects.count(),
        FollowUpTask.objects.filter(plan__isnull=True).count(),
    ) == counts
    names = set(CarePlanTemplate.objects.values_list("name", flat=True))
    assert {"术后随访", "复查提醒", "满意度调查"} <= names
