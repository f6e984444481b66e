"""The dashboard's follow-up figures, against numbers worked out by hand."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from followups.models import Action, FollowUpTask
from followups.selectors import followup_figures, followup_figures_by_doctor
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def at(month, day, hour):
    return datetime(2026, month, day, hour, 0, tzinfo=SH)


def task(patient, due, *, status="open", done=None):
    return FollowUpTask.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        title="电话随访",
        action=Action.CALL,
        role="assistant",
        due_at=due,
        window_end=due.replace(hour=18),
        status=status,
        done_at=done,
    )


@pytest.fixture
def tasks(clinic, other_clinic, make_patient, doctor):
    other_doctor = make_staff(clinic, "doctor", "doctor-b")
    a = make_patient(assigned_doctor=doctor)
    b = make_patient(assigned_doctor=other_doctor)
    task(a, at(3, 2, 9), status="done", done=at(3, 2, 10))  # on time, 1 h
    task(a, at(3, 3, 9), status="done", done=at(3, 4, 9))  # late, 24 h
    task(a, at(3, 5, 9))  # not done
    task(a, at(3, 6, 9), status="cancelled")  # left out: a stopped plan is no miss
    task(a, at(3, 7, 9), status="done", done=at(3, 7, 8))  # early: 0 h
    task(a, at(2, 28, 9), status="done", done=at(2, 28, 9))  # another period
    task(b, at(3, 10, 9), status="done", done=at(3, 10, 12))  # on time, 3 h
    task(make_patient(target_clinic=other_clinic), at(3, 2, 9))  # another clinic
    return doctor, other_doctor


def test_clinic_figures(clinic, tasks):
    figures = followup_figures(clinic=clinic, start=at(3, 1, 0), end=at(4, 1, 0))
    # due 5, done 4, on time 3 (1 h, 0 h, 3 h); delays 1, 24, 0, 3 → median 2.
    assert figures == {
        "due": 5,
        "done": 4,
        "on_time": 3,
        "unreachable": 0,
        "completion": 0.8,
        "timeliness": 0.6,
        "unreachable_share": 0.0,
        "median_delay_hours": 2.0,
    }


def test_figures_per_doctor(clinic, tasks):
    doctor, other_doctor = tasks
    rows = {
        r["doctor_id"]: r
        for r in followup_figures_by_doctor(clinic=clinic, start=at(3, 1, 0), end=at(4, 1, 0))
    }
    assert (rows[doctor.pk]["completion"], rows[doctor.pk]["timeliness"]) == (0.75, 0.5)
    assert rows[doctor.pk]["median_delay_hours"] == 1.0
    assert (rows[other_doctor.pk]["due"], rows[other_doctor.pk]["median_delay_hours"]) == (1, 3.0)


def test_nothing_due_gives_no_shares(clinic):
    assert followup_figures(clinic=clinic, start=at(3, 1, 0), end=at(4, 1, 0))["completion"] is None


def test_per_doctor_medians_of_an_even_count_and_a_doctor_without_tasks(clinic, tasks):
    """The grouped path (window functions) agrees with the single-doctor one."""
    doctor, other_doctor = tasks
    idle = make_staff(clinic, "doctor", "doctor-idle")
    patient = FollowUpTask.objects.filter(patient__assigned_doctor=other_doctor)[0].patient
    task(patient, at(3, 11, 9), status="done", done=at(3, 12, 9))  # late, 24 h → (3 + 24) / 2
    period = {"clinic": clinic, "start": at(3, 1, 0), "end": at(4, 1, 0)}
    rows = {r["doctor_id"]: r for r in followup_figures_by_doctor(**period)}
    for user in (doctor, other_doctor):
        assert {k: v for k, v in rows[user.pk].items() if k not in ("doctor_id", "doctor")} == (
            followup_figures(**period, doctor=user)
        )
    assert rows[other_doctor.pk]["median_delay_hours"] == 13.5
    assert rows[idle.pk] | {"doctor_id": 0, "doctor": ""} == {
        "doctor_id": 0,
        "doctor": "",
        "due": 0,
        "done": 0,
        "on_time": 0,
        "unreachable": 0,
        "completion": None,
        "timeliness": None,
        "unreachable_share": None,
        "median_delay_hours": None,
    }
