"""The HTTP benchmark's smoke run: generate_load on 10,000 patients, then the benchmark's own
code path (bench/http_load.py's prepare and a locust run of bench/locustfile.py at one user for
a few seconds) against the live test server. The figures themselves are BENCHMARKS.md's; here
every request must succeed and every figure must be produced."""

import json
import os
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from patients.models import Patient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import http_load  # noqa: E402  (bench/ is scripts, not a package)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REQUESTS = {
    "list: 3 filters",
    "list: phone tail",
    "patient",
    "patient: open follow-ups",
    "patient: care plans",
    "patient: message check",
    "timeline: page 1",
    "timeline: page 100",
}


def test_http_benchmark_runs_on_ten_thousand_patients(live_server, tmp_path):
    call_command(
        "generate_load", patients=10_000, touches=100_000, seed=1, staff=40, due_at_nine=1000
    )
    heavy = Patient.objects.filter(clinic__slug="load").order_by("id").first().pk
    shared = http_load.prepare(live_server.url, "load-assistant-0", "load-test", heavy)
    assert shared["timeline_pages"] == 100  # the long timeline reaches a 100th page
    assert len(shared["patients"]) == 200 and shared["doctor"]

    env = {**os.environ, "BENCH_SHARED": json.dumps(shared), "BENCH_EACH_IN_TURN": "1"}
    rows = http_load.run_level(
        host=live_server.url, users=1, duration="6s", env=env, prefix=tmp_path / "smoke"
    )

    assert {row["name"] for row in rows} == REQUESTS
    for row in rows:
        assert row["requests"] > 0 and row["failures"] == 0, row
        assert 0 < float(row["p50"]) <= float(row["p95"]) <= float(row["p99"]), row
