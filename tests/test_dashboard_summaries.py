"""The dashboard's summary tables: the refresh (patients.dashboard.summaries), its beat job run by a real
Celery worker, and the dashboard switching to them and saying how fresh they are. The figures
themselves are checked on both paths in tests/test_retention.py."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients import services as s
from patients import tasks
from patients.dashboard import retention, retention_summaries
from patients.dashboard.models import (
    CohortDay,
    CohortMonth,
    DailyFigure,
    RetentionFact,
    SummaryRefresh,
)
from patients.dashboard.summaries import summaries_refresh
from patients.models import Visit
from tests.celery_worker import Worker, broker_purge, wait_until
from tests.conftest import login, screenshot, tag

pytestmark = pytest.mark.django_db


def visit(patient, days_ago, amount="100"):
    s.visit_record(
        patient=patient,
        visit_date=timezone.localdate() - timedelta(days=days_ago),
        kind=Visit.Kind.FIRST if not patient.visits.exists() else Visit.Kind.REVISIT,
        amount=Decimal(amount),
    )


@pytest.fixture
def visited(clinic, make_patient):
    first, second = make_patient(name="甲"), make_patient(name="乙")
    visit(first, 100)
    visit(first, 40)
    visit(second, 30)
    return first, second


def year(clinic):
    today = timezone.localdate()
    return {"clinic": clinic, "start": today - timedelta(days=364), "end": today}


def test_refresh_is_idempotent_and_per_clinic(clinic, other_clinic, make_patient, visited):
    make_patient(name="外院", target_clinic=other_clinic)
    first = summaries_refresh(clinic_id=clinic.pk)
    rows = sorted(RetentionFact.objects.values_list("patient_id", "first_visit", "second_visit"))
    months = CohortMonth.objects.count()
    again = summaries_refresh(clinic_id=clinic.pk)
    assert first["patients"] == again["patients"] == 2
    # The second run finds nothing new and writes nothing.
    assert (first["changed"], again["changed"]) == (2, 0)
    assert (
        sorted(RetentionFact.objects.values_list("patient_id", "first_visit", "second_visit"))
        == rows
    )
    assert CohortMonth.objects.count() == months > 0
    # The other clinic was not touched: it has no summary until its own refresh.
    assert not RetentionFact.objects.filter(clinic=other_clinic).exists()
    assert SummaryRefresh.objects.get(clinic=clinic).patients == 2


def test_summaries_hold_until_the_next_refresh(clinic, visited):
    summaries_refresh(clinic_id=clinic.pk)
    before = retention_summaries.revisit_rate(**year(clinic))
    assert (
        before
        == retention.revisit_rate(**year(clinic))
        == {
            "patients": 2,
            "revisited": 1,
            "rate": 0.5,
        }
    )
    visit(visited[1], 2)  # 乙 comes back 28 days after the first visit
    assert retention.revisit_rate(**year(clinic))["revisited"] == 2
    assert retention_summaries.revisit_rate(**year(clinic))["revisited"] == 1
    assert summaries_refresh(clinic_id=clinic.pk)["changed"] == 1  # only 乙's facts
    assert retention_summaries.revisit_rate(**year(clinic))["revisited"] == 2


def test_the_tag_rows_follow_the_tags_at_the_next_refresh(clinic, visited):
    first, second = visited
    sugar = tag(clinic, "糖尿病")
    s.patient_tag(patient=first, add=[sugar])
    summaries_refresh(clinic_id=clinic.pk)
    by_tag = retention_summaries.revisit_rate(tag=sugar, **year(clinic))
    assert (
        by_tag
        == retention.revisit_rate(tag=sugar, **year(clinic))
        == {
            "patients": 1,
            "revisited": 1,
            "rate": 1.0,
        }
    )
    # Moved from 甲 to 乙: 甲's tag rows are deleted, 乙's inserted, the clinic's unchanged.
    s.patient_tag(patient=first, remove=[sugar])
    s.patient_tag(patient=second, add=[sugar])
    summaries_refresh(clinic_id=clinic.pk)
    assert retention_summaries.revisit_rate(tag=sugar, **year(clinic))["revisited"] == 0
    assert retention_summaries.revisit_rate(**year(clinic))["patients"] == 2
    assert DailyFigure.objects.filter(tag=sugar, first__gt=0).count() == 1
    assert CohortDay.objects.filter(tag=sugar).get().patients == 1


def test_deleting_a_patient_removes_their_summary_rows(clinic, visited):
    summaries_refresh(clinic_id=clinic.pk)
    # A patient's timeline is append-only (erasure anonymises instead): deleting one is possible
    # only past the trigger, as the archive does.
    from crm.audit import archiving

    with archiving():
        visited[0].delete()
    assert not RetentionFact.objects.filter(patient_id=visited[0].pk).exists()
    assert not CohortMonth.objects.filter(patient_id=visited[0].pk).exists()
    assert retention_summaries.cohort_retention(**year(clinic))[0]["patients"] == 1


def test_dashboard_says_how_fresh_its_figures_are(api, doctor, clinic, visited):
    client = api(doctor)
    live = client.get("/api/dashboard/").json()
    assert live["freshness"] == {"as_of": None, "label": "实时数据"}
    summaries_refresh(clinic_id=clinic.pk)
    body = client.get("/api/dashboard/").json()
    as_of = timezone.localtime(SummaryRefresh.objects.get(clinic=clinic).refreshed_at)
    assert body["freshness"]["label"] == f"数据更新于 {as_of:%Y-%m-%d %H:%M}"
    # The same figures from either path, filters included.
    for key in ("revisit", "churn", "at_risk", "referral", "sources", "funnel", "cohorts"):
        assert body[key] == live[key], key
    assert client.get(f"/api/dashboard/?doctor={doctor.pk}").json()["revisit"]["patients"] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_beat_job_refreshes_every_clinic_through_a_real_worker(
    clinic, other_clinic, make_patient, fake_wecom_server
):
    make_patient(name="甲")
    make_patient(name="外院", target_clinic=other_clinic)
    broker_purge()
    worker = Worker(wecom_base_url=fake_wecom_server[1], concurrency=2).start()
    try:
        assert tasks.summaries_refresh_all.apply().get() == 2
        done = wait_until(lambda: SummaryRefresh.objects.count() == 2, timeout=60)
    finally:
        worker.stop()
    assert done
    assert RetentionFact.objects.filter(clinic=clinic).count() == 1
    assert RetentionFact.objects.filter(clinic=other_clinic).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_page_shows_when_the_figures_were_updated(page, doctor, clinic, visited):
    summaries_refresh(clinic_id=clinic.pk)
    login(page, doctor.username)
    page.wait_for_url("**/dashboard/")
    period = page.get_by_test_id("period")
    page.wait_for_function("document.getElementById('period-text').textContent.includes('·')")
    assert "数据更新于" in period.inner_text()
    assert page.get_by_test_id("kpi-revisit").inner_text() == "50.0%"  # 甲 of 甲, 乙
    screenshot(page, "dashboard-summaries")


def maintenance(queries) -> list[str]:
    return [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("ANALYZE", "VACUUM"))
    ]


def test_a_small_refresh_leaves_the_shared_tables_maintenance_to_beat(clinic, visited):
    # ANALYZE and VACUUM cost the whole table, every clinic's rows: not for two patients.
    with CaptureQueriesContext(connection) as small:
        assert summaries_refresh(clinic_id=clinic.pk)["changed"] == 2
    assert maintenance(small.captured_queries) == []


def test_a_refresh_that_rewrites_much_of_the_table_analyzes_it(clinic, visited, monkeypatch):
    from patients.dashboard import summaries

    monkeypatch.setattr(summaries, "MAINTAIN_MIN_ROWS", 2)
    monkeypatch.setattr(summaries, "MAINTAIN_SHARE", 0)  # any share of the table is "much"
    with CaptureQueriesContext(connection) as big:
        summaries_refresh(clinic_id=clinic.pk)
    assert maintenance(big.captured_queries) == [
        "ANALYZE patients_retentionfact",
        "ANALYZE patients_cohortmonth",
        "ANALYZE patients_dailyfigure, patients_cohortday",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_beat_maintenance_vacuums_and_analyzes_the_summary_tables(clinic, visited):
    def vacuums():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT vacuum_count + analyze_count FROM pg_stat_user_tables "
                "WHERE relname = 'patients_retentionfact'"
            )
            return cursor.fetchone()[0]

    before = vacuums()
    assert tasks.summaries_maintain_task() == "maintained"
    assert vacuums() == before + 2  # one VACUUM, one ANALYZE
