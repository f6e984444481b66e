"""A smoke run of bench/dashboard_bench.py on a small generated clinic (the real runs, at
10k/100k/1M patients, are in BENCHMARKS.md), and a check that the hand-written floors it times
compute the same figures as the dashboard: a floor that counted something else would make
every ratio meaningless."""

import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from crm.models import Clinic
from patients.dashboard import retention, retention_summaries
from patients.models import PatientTag

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import dashboard_bench  # noqa: E402
from dashboard_floors import FLOORS, FUNNEL_COUNTS, SUMMARY_FLOORS  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def load():
    call_command("generate_load", patients=400, touches=4000, seed=3, clinic="smoke", staff=10)
    return Clinic.objects.get(slug="smoke")


def rows(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_bench_prints_every_figure_with_its_floors(load, capsys):
    dashboard_bench.main(["--runs", "1", "--live"])
    out = capsys.readouterr().out
    assert "summaries refresh:" in out
    for name, _, _ in dashboard_bench.FIGURES:
        line = next(row for row in out.splitlines() if row.startswith(name + " "))
        assert line.count("ms") == 4, line  # ours, floor, summary floor, live


def test_floors_compute_the_dashboards_figures(load):
    dashboard_bench.main(["--runs", "1"])  # refreshes the summaries
    today = timezone.localdate()
    period = {"clinic": load, "start": today - timedelta(days=364), "end": today}
    params = dashboard_bench.floor_params(
        clinic_id=load.pk, start=period["start"], end=period["end"], today=today
    )
    revisit = retention.revisit_rate(**period)
    assert revisit["patients"] > 0
    for floors in (FLOORS, SUMMARY_FLOORS):
        assert rows(floors["revisit"][0], params) == [(revisit["patients"], revisit["revisited"])]
        referral = retention.referral_rate(**period)
        assert rows(floors["referral"][0], params) == [
            (referral["new_patients"], referral["referred"])
        ]
        top = [(r["id"], r["name"], r["referrals"]) for r in referral["top_referrers"]]
        assert rows(floors["referral"][1], params) == top
        risk = retention.at_risk(clinic=load, today=today)
        assert rows(floors["at_risk"][0], params) == [(risk["patients"],)]
        assert [r[0] for r in rows(floors["at_risk"][1], params)] == [r["id"] for r in risk["list"]]
        churn = retention.churn(**period)
        assert rows(floors["churn"][0], params) == [
            (churn["patients"], churn["by_stage"], churn["deleted_wecom"])
        ]
        sizes = {c["month"]: c["patients"] for c in retention.cohort_retention(**period)}
        cohorts = rows(floors["cohorts"][-1 if floors is FLOORS else 0], params)
        if floors is FLOORS:  # month 0 rows: (cohort, month, patients, visits, amount)
            cohorts = [(c, n) for c, m, n, *_ in cohorts if c == m]
        assert {c.strftime("%Y-%m"): n for c, n in cohorts} == sizes
    funnel = retention_summaries.journey_funnel(**period)["stages"]
    reached = [row["reached"] for row in funnel if "reached" in row]
    counts = rows(FLOORS["funnel"][0], params)[0]
    assert list(counts[9:17]) == reached  # after the 9 "now" counts
    assert list(counts[:9]) == [row["now"] for row in funnel]
    measures = dict(zip(FUNNEL_COUNTS, rows(SUMMARY_FLOORS["funnel"][0], params)[0], strict=True))
    assert [measures.get(f"reached_{row['stage']}", 0) for row in funnel[:8]] == reached
    assert [measures.get(f"now_{row['stage']}", 0) for row in funnel] == [r["now"] for r in funnel]


def test_summaries_equal_the_live_figures_on_generated_data(load):
    """Every figure from the summaries, unfiltered and with each of a few tags (the rollups'
    tag rows), equals the live path's on a generated clinic: ties among top referrers, tags
    on half the patients, empty tags."""
    dashboard_bench.main(["--runs", "1", "--only", "revisit"])  # refreshes the summaries
    today = timezone.localdate()
    period = {"clinic": load, "start": today - timedelta(days=364), "end": today}
    tags = list(PatientTag.objects.filter(clinic=load).order_by("pk"))[:6]
    top = retention.referral_rate(tag=tags[0], **period)["top_referrers"]
    assert retention.revisit_rate(tag=tags[0], **period)["patients"] > 0 and len(top) > 1
    for tag in [None, *tags]:
        for name, function, kind in dashboard_bench.FIGURES:
            kwargs = {"clinic": load, "today": today} if kind == "today" else dict(period)
            live = getattr(retention, function)(tag=tag, **kwargs)
            assert getattr(retention_summaries, function)(tag=tag, **kwargs) == live, (name, tag)
