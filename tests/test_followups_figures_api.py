"""GET /api/followup-figures/: the dashboard's follow-up card, checked like /api/dashboard/."""

import pytest

from tests.conftest import make_staff
from tests.test_followups_figures import at, task

pytestmark = pytest.mark.django_db
URL = "/api/followup-figures/"
MARCH = "start=2026-03-01&end=2026-03-31"


@pytest.fixture
def march(clinic, other_clinic, make_patient, doctor):
    other_doctor = make_staff(clinic, "doctor", "doctor-b")
    mine, theirs = make_patient(assigned_doctor=doctor), make_patient(assigned_doctor=other_doctor)
    task(mine, at(3, 2, 9), status="done", done=at(3, 2, 10))  # on time, 1 h
    task(mine, at(3, 3, 9), status="done", done=at(3, 4, 9))  # late, 24 h
    task(mine, at(3, 31, 17))  # the last day of the period counts whole: due, not done
    task(mine, at(4, 1, 0))  # the day after: left out
    task(theirs, at(3, 10, 9), status="done", done=at(3, 10, 12))  # on time, 3 h
    task(make_patient(target_clinic=other_clinic), at(3, 2, 9))  # another clinic
    return other_doctor


def test_figures_for_the_clinic_and_for_one_doctor(api, doctor, march):
    clinic_wide = api(doctor).get(f"{URL}?{MARCH}").json()
    assert clinic_wide == {
        "period": {"start": "2026-03-01", "end": "2026-03-31"},
        "due": 4,
        "done": 3,
        "on_time": 2,
        "unreachable": 0,
        "completion": 0.75,
        "timeliness": 0.5,
        "unreachable_share": 0.0,
        "median_delay_hours": 3.0,
    }
    mine = api(doctor).get(f"{URL}?{MARCH}&doctor={doctor.pk}").json()
    assert (mine["due"], mine["done"], mine["on_time"], mine["median_delay_hours"]) == (
        3,
        2,
        1,
        12.5,
    )
    # Tag and channel are not follow-up dimensions: ignored, not an error.
    assert api(doctor).get(f"{URL}?{MARCH}&source=referral&tag=999").json() == clinic_wide


def test_nothing_due_gives_null_shares(api, doctor):
    body = api(doctor).get(f"{URL}?{MARCH}").json()
    assert (body["due"], body["timeliness"], body["median_delay_hours"]) == (0, None, None)


def test_another_clinics_doctor_and_bad_dates_are_400_in_chinese(api, doctor, outsider):
    client = api(doctor)
    foreign = client.get(f"{URL}?doctor={outsider.pk}")
    assert foreign.status_code == 400 and set(foreign.json()["errors"]) == {"doctor"}
    for query in ("start=2026-13-01", "start=2026-05-01&end=2026-04-01", "start=2020-01-01"):
        response = client.get(f"{URL}?{query}")
        assert response.status_code == 400, query
        assert set(response.json()) == {"code", "message", "errors"}
    bad = client.get(f"{URL}?start=2026-05-01&end=2026-04-01").json()
    assert bad["message"] == "请修正以下错误。" and "早于" in bad["errors"]["end"][0]
    # The same messages as the dashboard's own endpoint.
    assert bad == client.get("/api/dashboard/?start=2026-05-01&end=2026-04-01").json()


def test_nurses_get_403_as_on_the_dashboard(api, nurse, outsider, march):
    assert api(nurse).get(URL).status_code == 403 == api(nurse).get("/api/dashboard/").status_code
    # An outsider reads their own clinic: nothing of this one's.
    assert api(outsider).get(f"{URL}?{MARCH}").json()["due"] == 1
