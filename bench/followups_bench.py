"""Follow-ups benchmark: the due scan over 100,000 open tasks, and send throughput against
the fake WeCom with its limits on, as a share of each limit.

    createdb -h 127.0.0.1 -U postgres careloop_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/careloop_bench \\
    REDIS_URL=redis://127.0.0.1:6379/10 CELERY_BROKER_URL=redis://127.0.0.1:6379/9 \\
    DEBUG=1 LOG_LEVEL=WARNING .venv/bin/python bench/followups_bench.py [--scan-only|--send-only] [--concurrency 4] [--pool prefork]

It migrates that database and deletes its own bench clinic's rows first; the send part
flushes the broker's Redis DB (give it one of its own) and starts the fake WeCom and a
real Celery worker (prefork, concurrency 4). Figures go to stdout and bench/results/.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from crm.models import Clinic, Membership, Role  # noqa: E402
from followups import clock, services  # noqa: E402
from followups.models import Action, FollowUpTask, ReminderState  # noqa: E402
from patients.models import Patient  # noqa: E402
from wechat import services as outbox  # noqa: E402
from wechat.models import Delivery, RateBucket  # noqa: E402

TASKS = 100_000
STAFF = 100
PATIENTS = 5_000


def setup():
    call_command("migrate", verbosity=0)
    # The last run's bench clinic: its timeline and audit rows are append-only, so they go
    # through the one path the trigger allows (crm.audit.archiving), as a bench reset may.
    from crm.audit import archiving

    with archiving():
        Clinic.objects.filter(slug="bench").delete()
    get_user_model().objects.filter(username__startswith="bench-").delete()
    RateBucket.objects.all().delete()
    clinic = Clinic.objects.create(slug="bench", name="压测诊所")
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"bench-{i}") for i in range(STAFF)])
    Membership.objects.bulk_create(
        [
            Membership(user=u, clinic=clinic, role=Role.ASSISTANT, wecom_userid=f"bench-wx-{i}")
            for i, u in enumerate(users)
        ]
    )
    patients = Patient.objects.bulk_create(
        [
            Patient(clinic=clinic, name=f"患者{i}", external_userid=f"bench-wm-{i}")
            for i in range(PATIENTS)
        ]
    )
    return clinic, users, patients


def make_tasks(clinic, users, patients, *, now, due):
    """TASKS open tasks; `due` of them due now, the rest spread over the next 90 days.
    One in five is a re-exam reminder (a message to the patient)."""
    rows = []
    for i in range(TASKS):
        due_at = now - timedelta(minutes=1) if i < due else now + timedelta(hours=1 + i % 2160)
        reminder = i % 5 == 0
        rows.append(
            FollowUpTask(
                clinic=clinic,
                patient=patients[i % PATIENTS],
                title="术后随访",
                action=Action.RE_EXAM if reminder else Action.CALL,
                assignee=users[i % STAFF],
                role=Role.ASSISTANT,
                due_at=due_at,
                window_end=due_at + timedelta(hours=9),
                message="您好，请按时来院复查。" if reminder else "",
                reminder_state=ReminderState.PENDING if reminder else ReminderState.NONE,
            )
        )
    FollowUpTask.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE followups_followuptask")


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return round((time.perf_counter() - started) * 1000, 1), result


def bench_scan():
    clinic, users, patients = setup()
    today = clock.local_today()
    now = clock.at(today, clock.hhmm("10:00"))
    figures = {}
    make_tasks(clinic, users, patients, now=now, due=1_000)
    figures["scan_1000_due_of_100000_ms"], result = timed(lambda: services.due_scan(now=now))
    figures["scan_1000_due_result"] = {k: v for k, v in result.items() if k != "triggers"}
    figures["scan_nothing_new_of_100000_ms"], _ = timed(lambda: services.due_scan(now=now))
    # The morning batch: every one of the 100,000 open tasks due at 09:00, scanned at 09:00.
    FollowUpTask.objects.filter(clinic=clinic).delete()
    Delivery.objects.filter(clinic=clinic).delete()
    nine = clock.at(today, clock.hhmm("09:00"))
    make_tasks(clinic, users, patients, now=nine + timedelta(minutes=1), due=TASKS)
    runs, started, results = 0, time.perf_counter(), []
    while runs == 0 or pending_work(clinic):
        scan = services.due_scan(now=nine + timedelta(seconds=30))  # the 09:00 minute's run
        results.append({k: v for k, v in scan.items() if k != "triggers"})
        runs += 1
    figures["scan_all_100000_due_ms"] = round((time.perf_counter() - started) * 1000, 1)
    figures["scan_all_100000_due_runs"] = runs
    figures["scan_all_100000_due_results"] = results
    figures["scan_all_100000_due_left"] = pending_work(clinic)
    figures["scan_all_100000_due_wrote"] = {
        "digests": Delivery.objects.filter(clinic=clinic, channel="app_message").count(),
        "patient_reminders": Delivery.objects.filter(
            clinic=clinic, channel="customer_message"
        ).count(),
        "tasks_in_a_digest": FollowUpTask.objects.filter(
            clinic=clinic, staff_reminded_at__isnull=False
        ).count(),
    }
    return clinic, figures


def bench_explain():
    """The floor of the 09:00 scan (bench/explain/followups_due_scan_floor.sql, rolled
    back), then our scan on the same data; the plans go to bench/explain/."""
    clinic, users, patients = setup()
    nine = clock.at(clock.local_today(), clock.hhmm("09:00"))
    make_tasks(clinic, users, patients, now=nine + timedelta(minutes=1), due=TASKS)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE followups_followuptask")
        cursor.execute("VACUUM ANALYZE wechat_delivery")
    now = nine + timedelta(seconds=30)
    folder = Path(settings.BASE_DIR) / "bench" / "explain"
    script = (folder / "followups_due_scan_floor.sql").read_text()
    statements = [s for s in script.split(";\n") if "EXPLAIN" in s]
    plans, floor_ms = [], 0.0
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            sql = statement[statement.index("EXPLAIN") :]
            cursor.execute(sql, {"now": now})
            plan = "\n".join(row[0] for row in cursor.fetchall())
            floor_ms += float(plan.rsplit("Execution Time: ", 1)[1].split(" ms")[0])
            plans.append(sql + "\n\n" + plan)
        transaction.set_rollback(True)
    with connection.cursor() as cursor:  # the floor's rolled-back rows, out of our way
        cursor.execute("VACUUM ANALYZE followups_followuptask")
        cursor.execute("VACUUM ANALYZE wechat_delivery")
    (folder / "followups_due_scan_floor.txt").write_text(
        f"{subprocess.run(['uptime'], capture_output=True, text=True).stdout}\n"
        + "\n\n".join(plans)
        + f"\n\nfloor (sum of execution times): {floor_ms:.1f} ms\n"
    )
    ours_ms, result = timed(lambda: services.due_scan(now=now))
    return {
        "floor_ms": round(floor_ms, 1),
        "ours_ms": ours_ms,
        "ours_result": {k: v for k, v in result.items() if k != "triggers"},
        "ratio": round(ours_ms / floor_ms, 2),
        "left": pending_work(clinic),
    }


def pending_work(clinic) -> dict:
    """What a scan still has to do: due tasks in no digest, reminders not in the outbox."""
    open_tasks = FollowUpTask.objects.filter(clinic=clinic, status="open")
    left = {
        "not_in_a_digest": open_tasks.filter(staff_reminded_at__isnull=True).count(),
        "reminders_pending": open_tasks.filter(reminder_state=ReminderState.PENDING).count(),
    }
    return {k: v for k, v in left.items() if v}


def start_fake(port):
    """The fake WeCom in a process of its own, as WeCom would be (not sharing our GIL)."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "fakewecom", "--port", str(port)],
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/cgi-bin/"
    for _ in range(50):
        try:
            requests.post(base_url + "_fake/reset", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.2)
    return process, base_url


def start_worker(base_url, concurrency, pool):
    """A real Celery worker on the Redis broker, pointed at the fake."""
    env = {**os.environ, "WECOM_API_BASE_URL": base_url, "LOG_LEVEL": "WARNING"}
    log = open(Path(settings.BASE_DIR) / "bench" / "results" / "worker.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            *("-A", "crm", "worker", "--pool", pool, "--concurrency", str(concurrency)),
            *("-Q", ",".join(settings.CELERY_QUEUE_NAMES)),
            *("--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "WARNING"),
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def bench_send(clinic, seconds=60, concurrency=4, pool="prefork", customers=12_000):
    """Send through a real Celery worker for `seconds`; the fake enforces WeCom's limits."""
    from django.core.cache import cache

    from wechat.accounts import wecom_account_configure
    from wechat.tasks import deliveries_scan

    fake_process, base_url = start_fake(18765)
    settings.WECOM_API_BASE_URL = base_url
    cache.clear()
    wecom_account_configure(
        clinic=clinic, corp_id="bench-corp", agent_id="1", secret="s", robot_key="bench-robot"
    )
    Delivery.objects.filter(clinic=clinic).delete()
    RateBucket.objects.all().delete()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # this bench's broker DB only
    # Earlier runs' deleted rows would otherwise sit in the outbox's indexes until
    # autovacuum comes by; production has no such leftovers.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE wechat_delivery")
        cursor.execute("VACUUM ANALYZE wechat_deliveryattempt")
    worker = start_worker(base_url, concurrency, pool)
    time.sleep(8)  # the worker's start-up is not part of the figure
    # App messages to ONE member and robot messages (the per-member and robot limits),
    # then customer messages (the corp API limit), all due at once, in one transaction.
    messages = [
        {"clinic": clinic, "key": f"bench:a:{i}", "channel": "app_message"}
        | {"recipient": "bench-wx-1", "body": f"待办{i}"}
        for i in range(12)
    ]
    messages += [
        {"clinic": clinic, "key": f"bench:r:{i}", "channel": "robot"}
        | {"recipient": "team", "body": f"晨报{i}"}
        for i in range(12)
    ]
    messages += [
        {"clinic": clinic, "key": f"bench:c:{i}", "channel": "customer_message"}
        | {"recipient": f"bench-wm-{i}", "sender": "bench-wx-0", "body": "复查提醒"}
        for i in range(customers)
    ]
    started = time.monotonic()
    with transaction.atomic():
        outbox.delivery_enqueue_many(messages)
    enqueued_ms = round((time.monotonic() - started) * 1000)
    with connection.cursor() as cursor:
        # What autovacuum does after a large insert: the claim's plan needs the new count.
        cursor.execute("ANALYZE wechat_delivery")
    next_beat = time.monotonic() + 10
    while time.monotonic() < started + seconds:
        if time.monotonic() >= next_beat:  # what celery beat does every 10 s
            deliveries_scan()
            next_beat += 10
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(timeout=60)
    state = requests.get(base_url + "_fake/state", timeout=30).json()
    fake_process.terminate()
    fake_process.wait(timeout=10)

    def per_minute(messages):
        """The rate WeCom saw: messages between the first and the last, per minute."""
        times = sorted(m["at"] for m in messages)
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0]) * 60

    customer = per_minute(state["customer_messages"])
    app = per_minute(state["messages"])
    robot = per_minute(state["robot_messages"])
    # The worst 60 s window WeCom saw for customer messages (its limit is per minute).
    times = sorted(m["at"] for m in state["customer_messages"])
    first = 0
    busiest = 0
    for last, at in enumerate(times):
        while times[first] <= at - 60:
            first += 1
        busiest = max(busiest, last - first + 1)
    return {
        "seconds": round(elapsed, 1),
        "worker": f"celery --pool {pool} --concurrency {concurrency}",
        "enqueue_ms": enqueued_ms,
        "customer_messages_queued": customers,
        "customer_messages_sent": len(state["customer_messages"]),
        "customer_messages_per_min": round(customer),
        "customer_messages_busiest_60s": busiest,
        "corp_api_share_of_10000_per_min": round(customer / 10_000, 3),
        "app_messages_to_one_member_sent": len(state["messages"]),
        "app_messages_to_one_member_per_min": round(app, 2),
        "member_share_of_1000_per_hour": round(app * 60 / 1_000, 3),
        "robot_messages_sent": len(state["robot_messages"]),
        "robot_messages_per_min": round(robot, 2),
        "robot_share_of_20_per_min": round(robot / 20, 3),
        "dropped_by_wecom": len(state["dropped"]),
        "rate_limit_errors": state["rate_limited"],
        "outbox_statuses": dict(
            Counter(Delivery.objects.filter(clinic=clinic).values_list("status", flat=True))
        ),
    }


def option(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main():
    out = Path(settings.BASE_DIR) / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    figures = {"uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout}
    if "--explain" in sys.argv:
        figures["due_scan_floor"] = bench_explain()
    elif "--send-only" in sys.argv:
        clinic = setup()[0]
    else:
        clinic, scan = bench_scan()
        figures.update(scan)
    if "--scan-only" not in sys.argv and "--explain" not in sys.argv:
        concurrency = int(option("--concurrency", "4"))
        figures["send"] = bench_send(
            clinic, concurrency=concurrency, pool=option("--pool", "prefork")
        )
    figures["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout
    name = "followups-send.json" if "--send-only" in sys.argv else "followups.json"
    name = "followups-scan.json" if "--scan-only" in sys.argv else name
    name = "followups-explain.json" if "--explain" in sys.argv else name
    (out / name).write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
