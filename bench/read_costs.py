"""What each read of bench/http_load.py costs the server, without queueing: through Django's
test client in this process (middleware, session, filters, serialisers, SQL; no network, no
gunicorn), the median of N (default 20) of the wall time, this process's CPU time and the SQL
time Django saw. On a shared machine the CPU figure is the one other work disturbs least.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/careloop_bench .venv/bin/python bench/read_costs.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def requests_of(client):
    """The five requests of bench/locustfile.py, with the same parameters as http_load.prepare."""
    from patients.models import Patient

    groups = client.get("/api/tag-groups/").json()
    tag = next(g for g in groups if g["kind"] == "disease")["tags"][0]["id"]
    heavy = Patient.objects.filter(clinic__slug="load").order_by("id").values_list("id", flat=True)
    rows = client.get("/api/patients/", {"page_size": 200}).json()["results"]
    urls = {
        "list: 3 filters": f"/api/patients/?stage=maintained&tag={tag}"
        f"&assigned_doctor={rows[0]['assigned_doctor']}",
        "list: phone tail": "/api/patients/?q=1234",
        "patient": f"/api/patients/{rows[7]['id']}/",
        "timeline: page 1": f"/api/patients/{heavy[0]}/timeline/",
    }
    url = urls["timeline: page 1"]
    for _ in range(99):
        url = client.get(url).json()["next"].replace("http://testserver", "")
    urls["timeline: page 100"] = url
    return urls


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client

    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = True  # connection.queries, for the SQL time
    client = Client()
    client.force_login(get_user_model().objects.get(username="load-assistant-0"))
    runs = int(os.environ.get("N", 20))
    print("| request | wall ms | CPU ms (Django process) | SQL ms (as Django saw it) | queries |")
    print("|---|---|---|---|---|")
    for name, url in requests_of(client).items():
        client.get(url)
        walls, cpus, sqls = [], [], []
        for _ in range(runs):
            reset_queries()
            wall, cpu = time.perf_counter(), time.process_time()
            assert client.get(url).status_code == 200
            cpus.append((time.process_time() - cpu) * 1000)
            walls.append((time.perf_counter() - wall) * 1000)
            sqls.append(sum(float(q["time"]) for q in connection.queries) * 1000)
        print(
            f"| {name} | {statistics.median(walls):.1f} | {statistics.median(cpus):.1f} "
            f"| {statistics.median(sqls):.1f} | {len(connection.queries)} |"
        )


if __name__ == "__main__":
    main()
