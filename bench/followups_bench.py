"""Follow-ups benchmark: the due scan over 100,000 open tasks, and send throughput against
the fake WeCom with its limits on, as a share of each limit.

    createdb -h 127.0.0.1 -U postgres careloop_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/careloop_bench \\
    REDIS_URL=redis://127.0.0.1:6379/10 DEBUG=1 .venv/bin/python bench/followups_bench.py

It migrates that database and deletes its own bench clinic's rows first. Figures go to
stdout and bench/results/followups.json.
"""

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402
import requests  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

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
    # The worst case: every one of the 100,000 open tasks due at once (after an outage).
    FollowUpTask.objects.filter(clinic=clinic).delete()
    Delivery.objects.filter(clinic=clinic).delete()
    make_tasks(clinic, users, patients, now=now, due=TASKS)
    figures["scan_all_100000_due_first_run_ms"], result = timed(lambda: services.due_scan(now=now))
    figures["scan_all_due_first_run_result"] = {k: v for k, v in result.items() if k != "triggers"}
    # Later runs (each minute, in production) carry on until every reminder is in the outbox.
    runs, started = 1, time.perf_counter()
    while FollowUpTask.objects.filter(clinic=clinic, reminder_state=ReminderState.PENDING).exists():
        services.due_scan(now=now)
        runs += 1
    figures["scan_all_due_later_runs_ms"] = round((time.perf_counter() - started) * 1000, 1)
    figures["scan_all_due_runs_to_drain"] = runs
    return clinic, figures


def bench_send(clinic, seconds=60, threads=4):
    """Send due rows with `threads` senders (the worker's code) for `seconds`."""
    # The fake runs in a process of its own, as WeCom would (not sharing our GIL).
    port = 18765
    fake_process = subprocess.Popen(
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
    settings.WECOM_API_BASE_URL = base_url
    from django.core.cache import cache

    cache.clear()
    from wechat.services import wecom_account_configure

    wecom_account_configure(
        clinic=clinic, corp_id="bench-corp", agent_id="1", secret="s", robot_key="bench-robot"
    )
    Delivery.objects.filter(clinic=clinic).delete()
    RateBucket.objects.all().delete()
    # App messages to ONE member and robot messages (the per-member and robot limits),
    # then customer messages (the corp API limit), all due at once.
    for i in range(12):
        outbox.delivery_enqueue(
            clinic=clinic,
            key=f"bench:a:{i}",
            channel="app_message",
            recipient="bench-wx-1",
            body=f"待办{i}",
        )
        outbox.delivery_enqueue(
            clinic=clinic, key=f"bench:r:{i}", channel="robot", recipient="team", body=f"晨报{i}"
        )
    for i in range(3000):
        outbox.delivery_enqueue(
            clinic=clinic,
            key=f"bench:c:{i}",
            channel="customer_message",
            recipient=f"bench-wm-{i}",
            sender="bench-wx-0",
            body="复查提醒",
        )
    stop = time.monotonic() + seconds

    def sender(offset):
        from django.db import connection as conn

        while time.monotonic() < stop:
            # The earliest due rows, re-read often: a paced row leaves the due set until its
            # slot, so rows of other buckets (one member, the robot) are not starved.
            ids = outbox.deliveries_due_ids(limit=8 * threads)
            for delivery_id in ids[offset::threads]:
                outbox.delivery_send(delivery_id)
            if not ids:
                time.sleep(0.05)
        conn.close()

    started = time.monotonic()
    workers = [threading.Thread(target=sender, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    state = requests.get(base_url + "_fake/state", timeout=5).json()
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
    return {
        "seconds": round(elapsed, 1),
        "sender_threads": threads,
        "customer_messages_sent": len(state["customer_messages"]),
        "customer_messages_per_min": round(customer),
        "corp_api_share_of_10000_per_min": round(customer / 10_000, 3),
        "app_messages_to_one_member_sent": len(state["messages"]),
        "app_messages_to_one_member_per_min": round(app, 2),
        "member_share_of_1000_per_hour": round(app * 60 / 1_000, 3),
        "robot_messages_sent": len(state["robot_messages"]),
        "robot_messages_per_min": round(robot, 2),
        "robot_share_of_20_per_min": round(robot / 20, 3),
        "dropped_by_wecom": len(state["dropped"]),
        "rate_limit_errors": state["rate_limited"],
    }


def main():
    if "--send-only" in sys.argv:
        (clinic, _users, _patients), figures = setup(), {}
    else:
        clinic, figures = bench_scan()
    figures["send"] = bench_send(clinic)
    out = Path(settings.BASE_DIR) / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "followups-send.json" if "--send-only" in sys.argv else "followups.json"
    (out / name).write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
