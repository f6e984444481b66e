"""Time the workbench list (three filters) and the retention dashboard on the demo data.

    createdb -h 127.0.0.1 -U postgres careloop_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/careloop_bench .venv/bin/python bench/bench.py

Migrates and loads the demo clinic (`seed_demo`, about 500 patients) if needed, then calls each
endpoint in-process through Django's test client (middleware, session auth, serialisation and
the database included; no network), and prints median, p95 and max over the runs.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from crm.models import Clinic  # noqa: E402
from patients.models import Patient, PatientTag  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "30"))
TARGET_MS = 300


def measure(client, url):
    assert client.get(url).status_code == 200, url  # warm caches and connections
    reset_queries()  # with DEBUG on, the log is full; a request would clear it mid-capture
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    times.sort()
    return {
        "median": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
        "max": times[-1],
        "queries": len(queries),
    }


def main():
    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    clinic = Clinic.objects.get(slug="demo")
    user = get_user_model().objects
    doctor_user = user.get(username="doctor")
    assistant, doctor = Client(), Client()
    assistant.force_login(user.get(username="assistant"))
    doctor.force_login(doctor_user)
    disease = PatientTag.objects.get(clinic=clinic, name="糖尿病")
    cases = [
        (
            "list: stage + source + tag",
            assistant,
            f"/api/patients/?stage=maintained&source=walk_in&tag={disease.pk}",
        ),
        (
            "list: search + stage + doctor, sorted",
            assistant,
            f"/api/patients/?q=z&stage=after_visit&assigned_doctor={doctor_user.pk}"
            "&ordering=-last_visit_date",
        ),
        ("dashboard: last 12 months", doctor, "/api/dashboard/"),
        (
            "dashboard: 2 years, tag filter",
            doctor,
            f"/api/dashboard/?start={_two_years_ago()}&tag={disease.pk}",
        ),
    ]
    patients = Patient.objects.filter(clinic=clinic).count()
    print(f"demo clinic: {patients} patients; {RUNS} runs per case; load {os.getloadavg()}")
    print(f"{'case':42} {'median':>8} {'p95':>8} {'max':>8} {'queries':>8}")
    worst = 0.0
    for name, client, url in cases:
        result = measure(client, url)
        worst = max(worst, result["median"])
        print(
            f"{name:42} {result['median']:7.1f}ms {result['p95']:7.1f}ms "
            f"{result['max']:7.1f}ms {result['queries']:8d}"
        )
    print(f"target: median under {TARGET_MS} ms — {'met' if worst < TARGET_MS else 'NOT met'}")


def _two_years_ago():
    from datetime import timedelta

    from django.utils import timezone

    return (timezone.localdate() - timedelta(days=730)).isoformat()


if __name__ == "__main__":
    main()
