"""The read replica against a real streaming replica of the test database (tests/replica.py):
the heavy reads go to it, reads after a write do not, and a replica that lags or is down only
sends reads back to the primary."""

import time

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from crm import replica as routing
from patients.models import Patient
from tests.replica import replica_diagnosis, replica_ensure, replica_held, replica_sql

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


def replayed() -> bool:
    """Wait until the replica has replayed everything the primary has committed."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        [lsn] = cursor.fetchone()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if replica_sql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") == "t":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def replica(settings):
    with replica_held():  # one test at a time: a test pauses the replay of every database
        replica_ensure()
        settings.REPLICA_READS = True
        settings.REPLICA_CHECK_SECONDS = 0  # look at its health before every read
        routing.replica_health_forget()
        connections["replica"].close()
        yield connections["replica"]
        routing.replica_health_forget()
        connections["replica"].close()


def test_the_replica_is_a_streaming_copy_of_the_test_database(replica, make_patient):
    assert replica_sql("SELECT pg_is_in_recovery()") == "t"
    make_patient(name="复制")
    assert replayed(), replica_diagnosis()
    with replica.cursor() as cursor:
        cursor.execute("SELECT name FROM patients_patient")
        assert [row[0] for row in cursor.fetchall()] == ["复制"]


def test_the_dashboard_reads_from_the_replica_and_says_what_the_primary_would(
    replica, api, doctor, make_patient
):
    for n in range(3):
        make_patient(name=f"患者{n}")
    assert replayed(), replica_diagnosis()
    client = api(doctor)
    with CaptureQueriesContext(replica) as on_replica:
        body = client.get("/api/dashboard/").json()
    assert len(on_replica) > 3  # the health check and the figures' queries
    routing_off = {"REPLICA_READS": False}
    with pytest.MonkeyPatch.context() as patch:
        from django.conf import settings

        for key, value in routing_off.items():
            patch.setattr(settings, key, value)
        from_primary = client.get("/api/dashboard/").json()
    for key in ("revisit", "churn", "at_risk", "sources", "funnel"):
        assert body[key] == from_primary[key], key


def test_a_page_not_named_reads_the_primary(replica, api, assistant, make_patient):
    patient = make_patient()
    assert replayed(), replica_diagnosis()
    with CaptureQueriesContext(replica) as on_replica:
        response = api(assistant).get(f"/api/patients/{patient.pk}/")
    assert response.status_code == 200 and len(on_replica) == 0


def test_the_lists_count_comes_from_the_replica_and_its_rows_from_the_primary(
    replica, api, assistant, make_patient
):
    for n in range(3):
        make_patient(name=f"列表{n}")
    assert replayed(), replica_diagnosis()
    with (
        CaptureQueriesContext(replica) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        body = api(assistant).get("/api/patients/").json()
    assert body["count"] == 3 and len(body["results"]) == 3
    assert any("COUNT(" in q["sql"].upper() for q in on_replica.captured_queries)
    assert not any("COUNT(" in q["sql"].upper() for q in on_primary.captured_queries)
    assert any('"patients_patient"."name"' in q["sql"] for q in on_primary.captured_queries)


def test_reads_after_a_write_in_the_same_block_read_the_primary(replica, clinic):
    with routing.replica_reads():
        Patient.objects.create(clinic=clinic, name="刚写入")
        with CaptureQueriesContext(replica) as on_replica:
            # Not yet on the replica, perhaps: the primary answers.
            assert Patient.objects.filter(name="刚写入").count() == 1
    assert len(on_replica) == 0


def test_a_browser_that_wrote_reads_the_primary_for_a_while(
    replica, api, assistant, doctor, make_patient
):
    patient = make_patient()
    client = api(assistant)
    response = client.patch(f"/api/patients/{patient.pk}/", {"name": "新名字"}, format="json")
    assert response.status_code == 200
    assert routing.PIN_COOKIE in response.cookies
    assert response.cookies[routing.PIN_COOKIE]["max-age"] == 10
    assert replayed(), replica_diagnosis()
    with CaptureQueriesContext(replica) as on_replica:
        assert client.get("/api/patients/counts/").status_code == 200
    assert len(on_replica) == 0
    # Another browser that wrote nothing reads the replica.
    with CaptureQueriesContext(replica) as on_replica:
        assert api(doctor).get("/api/patients/counts/").status_code == 200
    assert len(on_replica) > 0


def test_a_lagging_replica_is_left_alone_and_the_answer_is_fresh(
    replica, settings, api, assistant, make_patient
):
    settings.REPLICA_MAX_LAG_SECONDS = 0
    make_patient(name="旧")
    assert replayed(), replica_diagnosis()
    replica_sql("SELECT pg_wal_replay_pause()")
    try:
        make_patient(name="新")  # committed on the primary, not replayed on the replica
        deadline = time.monotonic() + 10
        while routing.replica_lag_seconds() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert routing.replica_lag_seconds() > 0
        body = api(assistant).get("/api/patients/").json()
    finally:
        replica_sql("SELECT pg_wal_replay_resume()")
    assert body["count"] == 2
    assert routing._health["usable"] is False


def test_a_replica_that_is_down_changes_nothing_for_the_user(replica, api, doctor, make_patient):
    make_patient()
    real_port = replica.settings_dict["PORT"]
    replica.close()
    replica.settings_dict["PORT"] = "1"  # nothing listens there: connections are refused
    try:
        response = api(doctor).get("/api/dashboard/")
        counts = api(doctor).get("/api/patients/counts/")
    finally:
        replica.close()
        replica.settings_dict["PORT"] = real_port
    assert response.status_code == 200 and counts.status_code == 200
    assert routing._health["usable"] is False and routing._health["lag"] is None
