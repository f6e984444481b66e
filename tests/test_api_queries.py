"""No N+1: every list endpoint of the API (walked from the URL conf) makes the same number of
queries for a page of 10 rows as for a page of 100."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.demo import seed_patients
from tests.test_api_isolation import api_patterns, methods_of, view_model

pytestmark = pytest.mark.django_db


def list_routes(user):
    for name, callback, kwargs in api_patterns():
        if kwargs or name in {"api-root", "schema", "docs"} or "get" not in methods_of(callback):
            continue
        if view_model(callback, user) is not None:
            yield name


def grow(clinic, staff, count, seed):
    """More of everything a clinic has: patients with tags, stages, visits and timelines."""
    seed_patients(
        clinic=clinic,
        count=count,
        doctors=[staff["doctor"]],
        assistants=[staff["assistant"]],
        seed=seed,
    )


def query_counts(client, names, page_size):
    counts = {}
    for name in names:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse(f"api:{name}"), {"page_size": page_size})
        assert response.status_code == 200, name
        counts[name] = len(queries)
    return counts


def test_list_endpoints_make_a_constant_number_of_queries(clinic, staff, api):
    user = staff["admin"]
    client = api(user)
    names = list(list_routes(user))
    assert "patient-list" in names
    grow(clinic, staff, 10, seed=1)
    small = query_counts(client, names, page_size=10)
    grow(clinic, staff, 90, seed=2)
    large = query_counts(client, names, page_size=100)
    assert large == small


def test_timeline_makes_a_constant_number_of_queries(clinic, staff, api, make_patient):
    from patients.timeline import touch_record

    client = api(staff["assistant"])
    patient = make_patient()
    url = reverse("api:patient-timeline", kwargs={"pk": patient.pk})

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    for n in range(5):
        touch_record(patient=patient, kind="note", summary=f"n{n}", actor=staff["nurse"])
    few = count()
    for n in range(40):
        touch_record(patient=patient, kind="call", summary=f"c{n}", actor=staff["doctor"])
    assert count() == few
