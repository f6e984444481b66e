"""HTTP latency of the assistant's reads at 1, 10 and 50 concurrent users (locust) against
gunicorn on the benchmark database. Prints a Markdown table for BENCHMARKS.md.

    .venv/bin/python bench/http_load.py --database-url postgres://postgres@127.0.0.1:5432/careloop_bench
"""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))


def wait_for(url, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer")


def heaviest_patient(database_url, clinic="load"):
    """The first patient generate_load wrote: it has one of the long timelines (3,500 entries)."""
    import psycopg2

    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT MIN(p.id) FROM patients_patient p JOIN crm_clinic c ON c.id = p.clinic_id "
            "WHERE c.slug = %s",
            [clinic],
        )
        return cursor.fetchone()[0]


def prepare(host, username, password, heavy):
    """Ids for the load and the 100th timeline page's cursor, found once outside the measurement."""
    import requests

    session = requests.Session()
    session.get(f"{host}/accounts/login/")
    session.post(
        f"{host}/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{host}/accounts/login/"},
    )
    groups = session.get(f"{host}/api/tag-groups/").json()
    disease = next(group for group in groups if group["kind"] == "disease")
    rows = session.get(f"{host}/api/patients/", params={"page_size": 200}).json()["results"]
    url, pages = f"{host}/api/patients/{heavy}/timeline/", 1
    while pages < 100:
        following = session.get(url).json()["next"]
        if following is None:
            break
        url, pages = following, pages + 1
    return {
        "tag": disease["tags"][0]["id"],
        "doctor": rows[0]["assigned_doctor"],
        "patients": [row["id"] for row in rows],
        "heavy": heavy,
        "timeline_100": url.replace(host, ""),
        "timeline_pages": pages,
        "sessionid": session.cookies["sessionid"],
    }


def run_level(*, host, users, duration, env, prefix):
    """One locust run (headless) at `users` concurrent users; its rows for the table."""
    subprocess.run(
        [
            str(ROOT / ".venv/bin/locust"),
            "-f",
            str(ROOT / "bench/locustfile.py"),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            duration,
            "--host",
            host,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    rows = []
    with open(f"{prefix}_stats.csv") as f:
        for stat in csv.DictReader(f):
            if stat["Name"] in ("Aggregated", "login"):
                continue
            rows.append(
                {
                    "users": users,
                    "name": stat["Name"],
                    "requests": int(stat["Request Count"]),
                    "failures": int(stat["Failure Count"]),
                    "p50": stat["50%"],
                    "p95": stat["95%"],
                    "p99": stat["99%"],
                }
            )
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--users", default="1,10,50")
    parser.add_argument("--duration", default="45s")
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--label", default="", help="prefix of the result files, e.g. 1m-")
    parser.add_argument(
        "--think",
        default="0.1,0.3",
        help="min,max seconds a user waits between requests (a person at the page: e.g. 2,5)",
    )
    args = parser.parse_args()

    from crm.settings import _DEV_FIELD_KEY, _DEV_SECRET_KEY  # the keys generate_load wrote with

    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": os.environ.get("SECRET_KEY", _DEV_SECRET_KEY),
        "FIELD_ENCRYPTION_KEY": os.environ.get("FIELD_ENCRYPTION_KEY", _DEV_FIELD_KEY),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_TOKEN_RATE": "1000000/min",
        "BENCH_USER": os.environ.get("BENCH_USER", "load-assistant-0"),
        "BENCH_PASSWORD": os.environ.get("BENCH_PASSWORD", "load-test"),
        "BENCH_THINK": args.think,
    }
    host = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "crm.wsgi",
            "-b",
            f"127.0.0.1:{args.port}",
            "-w",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        wait_for(f"{host}/accounts/login/")
        heavy = heaviest_patient(args.database_url)
        shared = prepare(host, env["BENCH_USER"], env["BENCH_PASSWORD"], heavy)
        env["BENCH_SHARED"] = json.dumps(shared)
        print(f"timeline page reached: {shared['timeline_pages']}", flush=True)
        for users in [int(u) for u in args.users.split(",")]:
            print(f"load: {os.getloadavg()}", flush=True)
            rows += run_level(
                host=host,
                users=users,
                duration=args.duration,
                env=env,
                prefix=RESULTS / f"http-{args.label}{users}",
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    (RESULTS / f"http-{args.label}results.json").write_text(
        json.dumps(rows, ensure_ascii=False, indent=1)
    )
    print("| users | request | count | failures | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['users']} | {row['name']} | {row['requests']} | {row['failures']} | {row['p50']} | {row['p95']} | {row['p99']} |"
        )


if __name__ == "__main__":
    main()
