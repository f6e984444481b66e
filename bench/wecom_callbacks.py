"""Bench: WeCom callback latency and welcome-message latency, end to end over HTTP.

Starts the fake WeCom (in this process), CareLoop's web server (gunicorn) and a real Celery
worker against PostgreSQL and Redis, then has the fake push signed, encrypted
add_external_contact callbacks for a channel code, like patients scanning it. Measures:

- callback latency: the fake's POST until CareLoop answers "success" (WeCom allows 5 s);
- welcome latency: the same POST until the fake receives send_welcome_msg (the code is
  valid 20 s), i.e. verify + store + task + patient + outbox + send, through the broker twice.

With --pools queues (the Procfile's layout) each queue has its own worker pool; with --pools one
a single pool serves every queue (the layout before queues). --load-campaign N and --load-import N
put bulk work on the other queues while the callbacks arrive: a campaign to N patients and an
import of N rows, started with the first measured callback.

Usage (a database of its own; Redis DBs you own; see BENCHMARKS.md):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/careloop_i4_bench \
  CELERY_BROKER_URL=redis://127.0.0.1:6379/7 REDIS_URL=redis://127.0.0.1:6379/8 \
  .venv/bin/python bench/wecom_callbacks.py --events 300 --rate 20
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values, p):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values):
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.mean(values), 1),
    }


def ensure_database(url):
    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    conn = psycopg2.connect(
        host=parsed.hostname, port=parsed.port or 5432, user=parsed.username, dbname="postgres"
    )
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cursor.fetchone():
            cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def wait_for(url, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=2.0, help="callbacks per second")
    parser.add_argument("--warmup", type=int, default=5, help="callbacks not measured")
    parser.add_argument("--web-port", type=int, default=8191)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--pools", choices=("one", "queues"), default="queues")
    parser.add_argument("--load-campaign", type=int, default=0, help="patients of a campaign")
    parser.add_argument("--load-import", type=int, default=0, help="rows of an import")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres") or not os.environ.get("CELERY_BROKER_URL"):
        raise SystemExit("Set DATABASE_URL (PostgreSQL), CELERY_BROKER_URL and REDIS_URL.")
    ensure_database(database_url)
    import socket

    with socket.socket() as probe:  # an old server there would answer for us: refuse
        if probe.connect_ex(("127.0.0.1", args.web_port)) == 0:
            raise SystemExit(f"Port {args.web_port} is taken: stop what listens there first.")

    from wechat.fake import serve_in_thread

    fake, fake_server, base_url = serve_in_thread()
    os.environ["WECOM_API_BASE_URL"] = base_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "crm.settings"
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    clinic, code, account = setup_clinic()

    env = {**os.environ, "WECOM_API_BASE_URL": base_url, "LOG_LEVEL": "WARNING"}
    bin_dir = Path(sys.executable).parent
    from django.conf import settings

    queues = ",".join(settings.CELERY_QUEUE_NAMES)
    subprocess.run([str(bin_dir / "celery"), "-A", "crm", "purge", "-f", "-Q", queues], env=env, cwd=ROOT,
                   check=True, capture_output=True)  # fmt: skip
    processes = [
        subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                "crm.wsgi",
                "-b",
                f"127.0.0.1:{args.web_port}",
                "-w",
                str(args.web_workers),
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
        ),  # fmt: skip
        *worker_pools(args, bin_dir, env),
    ]
    try:
        callback = f"http://127.0.0.1:{args.web_port}/wechat/callback/{clinic.slug}/"
        wait_for(f"http://127.0.0.1:{args.web_port}/accounts/login/")
        fake.register_app(
            corp_id=account.corp_id,
            callback_url=callback,
            token=account.callback_token,
            aes_key=account.encoding_aes_key,
        )
        load = prepare_load(fake, clinic, account, args)
        results = run(fake, account, code, args, start_load=load)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        fake_server.shutdown()
    print(json.dumps(results, indent=2, ensure_ascii=False))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"wecom-callbacks-{int(time.time())}.json").write_text(json.dumps(results, indent=2))


def worker_pools(args, bin_dir, env):
    """One worker process per queue (the Procfile), or one for every queue."""
    from django.conf import settings

    if args.pools == "one":
        layout = [("all", ",".join(settings.CELERY_QUEUE_NAMES), args.celery_concurrency)]
    else:
        layout = [("callbacks", "callbacks", args.celery_concurrency)] + [
            (queue, queue, 1) for queue in settings.CELERY_QUEUE_NAMES if queue != "callbacks"
        ]
    return [
        subprocess.Popen(
            [
                str(bin_dir / "celery"),
                "-A",
                "crm",
                "worker",
                "-Q",
                queues,
                "-n",
                f"{name}@%h",
                "-l",
                "warning",
                "--concurrency",
                str(concurrency),
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
            ],
            env=env,
            cwd=ROOT,
        )  # fmt: skip
        for name, queues, concurrency in layout
    ]


def prepare_load(fake, clinic, account, args):
    """The bulk work to start beside the callbacks: a campaign draft to N patients (contacts of
    the clinic's assistant in the fake) and a checked import of N rows. Returns the starter."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from content import campaigns as content
    from crm.models import Membership
    from patients.imports.commit import import_commit_request
    from patients.imports.services import import_check, import_create
    from patients.models import Patient

    member = Membership.objects.get(clinic=clinic)
    campaign = batch = None
    if args.load_campaign:
        Patient.objects.bulk_create(
            [
                Patient(clinic=clinic, name=f"群发{i:05d}", external_userid=f"wm-load-{i:05d}",
                        assigned_assistant=member.user)
                for i in range(args.load_campaign)
            ],
            batch_size=1000,
        )  # fmt: skip
        for i in range(args.load_campaign):
            fake.add_contact(userid="bench-assistant", external_userid=f"wm-load-{i:05d}")
        campaign = content.campaign_save(
            clinic=clinic, name="压测群发", body="{诊所}本周六举办冬季养生讲座，欢迎参加。", segment={}
        )  # fmt: skip
    if args.load_import:
        # Into a clinic of its own, so that the campaign's segment (all of the bench clinic's
        # patients) stays the campaign's N.
        from crm.models import Clinic
        from crm.services import staff_create

        other = Clinic.objects.create(slug=f"{clinic.slug}-import", name=f"{clinic.name} 导入")
        importer = staff_create(
            clinic=other, username=f"{clinic.slug}-importer", password="Qv7!trn-Lp92x",
            role="assistant",
        )  # fmt: skip
        rows = "\n".join(f"导入{i:06d},139{i:08d}" for i in range(args.load_import))
        upload = SimpleUploadedFile("load.csv", f"姓名,手机号\n{rows}\n".encode())
        batch = import_check(batch=import_create(clinic=other, user=importer.user, upload=upload))

    def start():
        from django.db import transaction

        with transaction.atomic():
            if campaign is not None:
                content.campaign_schedule(campaign=campaign)
            if batch is not None:
                import_commit_request(batch=batch, actor=importer.user)

    return start


def setup_clinic():
    from crm.models import Clinic
    from crm.services import staff_create
    from patients.clinic_defaults import clinic_setup_defaults
    from wechat.channels import channel_code_create
    from wechat.services import wecom_account_configure

    run_id = f"{int(time.time()) % 10**8:x}"  # a clinic per run: earlier runs stay as they were
    clinic = Clinic.objects.create(slug=f"bench-{run_id}", name=f"压测诊所 {run_id}")
    clinic_setup_defaults(clinic=clinic)
    member = staff_create(
        clinic=clinic, username=f"bench-{run_id}", password="Qv7!trn-Lp92x", role="assistant",
        wecom_userid="bench-assistant",
    )  # fmt: skip
    account = wecom_account_configure(
        clinic=clinic, corp_id=f"ww-bench-{run_id}", agent_id="1000002", secret="bench-secret",
        callback_token="bench-token", encoding_aes_key="Y2FyZWxvb3AtZGVtby1vbmx5LWFlcy1rZXktMDAwMDA",
    )  # fmt: skip
    tags = list(clinic.tags.filter(name__in=["门诊", "甲状腺结节"]).select_related("group"))
    code = channel_code_create(
        clinic=clinic, name="压测台卡", staff=[member], tags=tags, stage="converted"
    )
    return clinic, code, account


def run(fake, account, code, args, start_load=None):
    # Warm up: the first requests of each gunicorn and Celery process load code and connect.
    for _ in range(args.warmup):
        fake.push_add(account.corp_id, userid="bench-assistant", state=code.state)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(fake.welcome_messages) < args.warmup:
        time.sleep(0.1)
    fake.reset_received()
    load_before = os.getloadavg()
    started = {}
    callback_ms = []
    refused = 0

    def one(_n):
        t0 = time.time()
        result = fake.push_add(account.corp_id, userid="bench-assistant", state=code.state)
        return t0, result

    interval = 1.0 / args.rate
    if start_load is not None:
        start_load()
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = []
        begin = time.monotonic()
        for n in range(args.events):
            delay = begin + n * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, n))
        for future in futures:
            t0, result = future.result()
            if result["status"] != 200 or result["text"] != "success":
                refused += 1
                continue
            callback_ms.append(result["ms"])
            started[result["welcome_code"]] = t0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(fake.welcome_messages) < len(started):
        time.sleep(0.2)
    welcome_ms = [
        (message["at"] - started[message["welcome_code"]]) * 1000
        for message in list(fake.welcome_messages)
        if message["welcome_code"] in started
    ]
    from patients.imports.models import ImportBatch
    from wechat.models import Delivery

    # The bulk work's own end (it may outlast the callbacks): the import committed and the
    # campaign's mass-message task made.
    def bulk_done():
        imports_left = ImportBatch.objects.filter(
            clinic__slug=f"{code.clinic.slug}-import"
        ).exclude(status="committed")
        tasks = Delivery.objects.filter(clinic=code.clinic, idempotency_key__startswith="campaign:")
        return not imports_left.exists() and (not args.load_campaign or tasks.exists())

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not bulk_done():
        time.sleep(0.5)
    bulk_seconds = round(time.monotonic() - begin, 1)

    welcomes = Delivery.objects.filter(clinic=code.clinic, idempotency_key__startswith="welcome:")
    missed = welcomes.exclude(status="sent").count()
    imports = list(
        ImportBatch.objects.filter(clinic__slug=f"{code.clinic.slug}-import").values_list(
            "status", flat=True
        )
    )
    campaign_tasks = Delivery.objects.filter(
        clinic=code.clinic, idempotency_key__startswith="campaign:"
    ).count()
    return {
        "pools": args.pools,
        "load_campaign_patients": args.load_campaign,
        "load_import_rows": args.load_import,
        "campaign_mass_tasks_made": campaign_tasks,
        "import_statuses": imports,
        "seconds_until_bulk_work_done": bulk_seconds,
        "events": args.events,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "rate_per_s": args.rate,
        "refused": refused,
        "welcomes_received": len(welcome_ms),
        "deliveries_not_sent": missed,
        "callback_ms": summary(callback_ms),
        "welcome_ms": summary(welcome_ms) if welcome_ms else None,
    }


if __name__ == "__main__":
    main()
