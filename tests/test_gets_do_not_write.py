"""GETs do not write: the pages and API reads that used to make rows on their first GET (doctor
profiles, the sending rules and red lines, the follow-up settings) only read; the writes that
cause those rows make them (a staff change, the clinic's set-up, a settings change)."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import services as crm_services
from crm.models import Membership, Role
from doctors.models import DoctorProfile
from followups.models import FollowUpSettings
from wechat.models import ContentSettings, RedLinePhrase

WRITES = ("INSERT", "UPDATE", "DELETE")

PAGES = [
    ("operations", "operations_home"),
    ("operations", "doctors:doctors"),
    ("doctor", "doctors:doctors"),  # redirects to the doctor's own profile
    ("operations", "doctors:calendar"),
    ("operations", "doctors:onboarding"),
    ("operations", "content:redlines"),
    ("admin", "content:redlines"),
    ("admin", "content:settings"),
    ("admin", "followups:templates"),
]
API = [
    ("operations", "/api/red-lines/"),
    ("admin", "/api/content-settings/"),
    ("admin", "/api/followup-settings/"),
    ("operations", "/api/doctors/"),
]


def _writes(queries):
    """The data writes of a request; the session row (django_session: the idle timeout's last
    activity) is the sign-in's, not the page's."""
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(WRITES) and "django_session" not in q["sql"]
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "url"), PAGES + API)
def test_a_get_makes_no_row(staff, role, url):
    client = Client()
    client.force_login(staff[role])
    path = url if url.startswith("/") else reverse(url)
    client.get(path)  # the first GET of a fresh clinic: nothing is made lazily…
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, follow=True)  # …nor on any later one
    assert response.status_code == 200, (path, response.status_code)
    assert _writes(queries.captured_queries) == []


@pytest.mark.django_db
def test_a_get_makes_no_row_even_where_the_rows_are_missing(clinic, staff):
    """A clinic made without its set-up, a doctor without a profile: the pages still open, show
    the defaults, and make nothing (the old pages made these rows on their GET)."""
    DoctorProfile.objects.filter(clinic=clinic).delete()
    RedLinePhrase.objects.filter(clinic=clinic).delete()
    ContentSettings.objects.filter(clinic=clinic).delete()
    for role, url in PAGES + API:
        client = Client()
        client.force_login(staff[role])
        path = url if url.startswith("/") else reverse(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path, follow=True).status_code == 200, path
        assert _writes(queries.captured_queries) == [], path
    assert not DoctorProfile.objects.filter(clinic=clinic).exists()
    assert not ContentSettings.objects.filter(clinic=clinic).exists()


@pytest.mark.django_db
def test_staff_changes_make_the_doctor_profiles(clinic, staff):
    doctor = Membership.objects.get(user=staff["doctor"])
    assert DoctorProfile.objects.filter(clinic=clinic, user=doctor.user).exists()  # created

    assistant = Membership.objects.get(user=staff["assistant"])
    assert not DoctorProfile.objects.filter(user=assistant.user).exists()
    crm_services.staff_update(membership=assistant, by=staff["admin"], role=Role.DOCTOR)
    assert DoctorProfile.objects.filter(clinic=clinic, user=assistant.user).exists()  # role

    # Leaving keeps the profile (its posts and history are the clinic's); coming back finds it.
    crm_services.staff_deactivate(membership=doctor, by=staff["admin"])
    crm_services.staff_reactivate(membership=doctor, by=staff["admin"])
    assert DoctorProfile.objects.filter(clinic=clinic, user=doctor.user).count() == 1


@pytest.mark.django_db
def test_the_clinic_set_up_makes_its_sending_rules_and_red_lines(clinic):
    assert ContentSettings.objects.filter(clinic=clinic).exists()
    assert RedLinePhrase.objects.filter(clinic=clinic, phrase="包治").exists()


@pytest.mark.django_db
def test_follow_up_settings_are_made_by_their_first_change(clinic, admin_user, api):
    client = api(admin_user)
    assert client.get("/api/followup-settings/").json()["call_attempts"] == 3
    assert not FollowUpSettings.objects.filter(clinic=clinic).exists()
    response = client.patch("/api/followup-settings/", {"call_attempts": 5}, format="json")
    assert response.status_code == 200, response.content
    assert FollowUpSettings.objects.get(clinic=clinic).call_attempts == 5
    assert client.get("/api/followup-settings/").json()["call_attempts"] == 5
