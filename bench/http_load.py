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
import threading
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
        "csrftoken": session.cookies["csrftoken"],
    }


def server_activity(database_url):
    """What one server did for the database so far: transactions and rows read."""
    import psycopg2

    name = database_url.rsplit("/", 1)[1]
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT xact_commit + xact_rollback, tup_returned + tup_fetched "
            "FROM pg_stat_database WHERE datname = %s",
            [name],
        )
        transactions, rows = cursor.fetchone()
    connection.close()
    return {"transactions": transactions, "rows": rows}


class LagSampler(threading.Thread):
    """The replica's lag once a second: WAL bytes not yet replayed, and the seconds since the
    primary's last commit that the replica has not replayed (0 when it has replayed all)."""

    def __init__(self, primary_url, replica_url):
        super().__init__(daemon=True)
        self.primary_url, self.replica_url = primary_url, replica_url
        self.samples, self.done = [], threading.Event()

    def run(self):
        import psycopg2

        primary = psycopg2.connect(self.primary_url)
        replica = psycopg2.connect(self.replica_url)
        primary.autocommit = replica.autocommit = True
        while not self.done.wait(1):
            with primary.cursor() as cursor:
                cursor.execute("SELECT pg_current_wal_lsn()")
                sent = cursor.fetchone()[0]
            with replica.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_wal_lsn_diff(%s, pg_last_wal_replay_lsn()), "
                    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
                    "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END",
                    [sent],
                )
                behind, seconds = cursor.fetchone()
            self.samples.append((max(float(behind), 0.0), float(seconds or 0)))
        primary.close()
        replica.close()

    def summary(self):
        def pct(values, q):
            values = sorted(values)
            return values[min(len(values) - 1, int(q * len(values)))] if values else 0

        behind = [b for b, _ in self.samples]
        seconds = [s for _, s in self.samples]
        return {
            "samples": len(self.samples),
            "bytes_p50": pct(behind, 0.5), "bytes_max": max(behind, default=0),
            "seconds_p50": round(pct(seconds, 0.5), 3), "seconds_p95": round(pct(seconds, 0.95), 3),
            "seconds_max": round(max(seconds, default=0), 3),
        }  # fmt: skip


def replica_share(users, before, after, lag):
    done = [{k: a[k] - b[k] for k in a} for b, a in zip(before, after, strict=True)]
    primary, replica = done
    return {
        "users": users,
        "replica_transactions": replica["transactions"],
        "primary_transactions": primary["transactions"],
        "transactions_share": round(
            replica["transactions"] / max(1, replica["transactions"] + primary["transactions"]), 3
        ),
        "rows_share": round(replica["rows"] / max(1, replica["rows"] + primary["rows"]), 3),
        **lag,
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
    parser.add_argument(
        "--replica-url",
        help="a streaming replica of --database-url: gunicorn reads from it through crm.replica; "
        "prints its share of the transactions and rows read, and its lag",
    )
    parser.add_argument("--mix", choices=["assistant", "day"], default="assistant")
    args = parser.parse_args()

    from crm.settings import _DEV_FIELD_KEY, _DEV_SECRET_KEY  # the keys generate_load wrote with

    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": os.environ.get("SECRET_KEY", _DEV_SECRET_KEY),
        "FIELD_ENCRYPTION_KEY": os.environ.get("FIELD_ENCRYPTION_KEY", _DEV_FIELD_KEY),
        # generate_load ran with DEBUG on, where the phone hashes' key is the first field key.
        "FIELD_HASH_KEY": os.environ.get("FIELD_HASH_KEY", _DEV_FIELD_KEY),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_TOKEN_RATE": "1000000/min",
        "BENCH_USER": os.environ.get("BENCH_USER", "load-assistant-0"),
        "BENCH_PASSWORD": os.environ.get("BENCH_PASSWORD", "load-test"),
        "BENCH_THINK": args.think,
        "BENCH_MIX": args.mix,
    }
    if args.replica_url:
        env |= {"DATABASE_REPLICA_URL": args.replica_url, "REPLICA_READS": "1"}
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
    rows, replicas = [], []
    try:
        wait_for(f"{host}/accounts/login/")
        heavy = heaviest_patient(args.database_url)
        shared = prepare(host, env["BENCH_USER"], env["BENCH_PASSWORD"], heavy)
        env["BENCH_SHARED"] = json.dumps(shared)
        print(f"timeline page reached: {shared['timeline_pages']}", flush=True)
        for users in [int(u) for u in args.users.split(",")]:
            print(f"load: {os.getloadavg()}", flush=True)
            if args.replica_url:
                before = [server_activity(u) for u in (args.database_url, args.replica_url)]
                sampler = LagSampler(args.database_url, args.replica_url)
                sampler.start()
            rows += run_level(
                host=host,
                users=users,
                duration=args.duration,
                env=env,
                prefix=RESULTS / f"http-{args.label}{users}",
            )
            if args.replica_url:
                sampler.done.set()
                sampler.join()
                after = [server_activity(u) for u in (args.database_url, args.replica_url)]
                replicas.append(replica_share(users, before, after, sampler.summary()))
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
    for replica in replicas:
        print(json.dumps(replica))
    if replicas:
        (RESULTS / f"http-{args.label}replica.json").write_text(json.dumps(replicas, indent=1))


if __name__ == "__main__":
    main()
