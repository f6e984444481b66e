"""Reminders leave exactly once, end to end: the due scan, the outbox, a real Celery
worker process on the Redis broker, and the fake WeCom over real HTTP.

- 1,000 staff digests (one per member, so no member's 4.5 s pacing applies), the worker
  SIGKILLed mid-batch and started again: every digest reaches WeCom once.
- 1,000 patient re-exam reminders, the broker's Redis DB flushed mid-batch: every
  reminder reaches WeCom once.
"""

import json
import os
import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F

from crm.models import Membership, Role
from followups import clock, services
from followups.models import Action, FollowUpTask, ReminderState
from patients.models import Patient, Touch
from tests.celery_worker import Worker, broker_purge, broker_queue_length, wait_until
from wechat import outbox
from wechat.models import Delivery, DeliveryAttempt, DeliveryStatus
from wechat.tasks import deliveries_scan

pytestmark = pytest.mark.django_db(transaction=True)
N = 1000


def working_hours_now():
    """A moment of today's working hours in Shanghai for the scan's clock (digests are not
    sent at night); the outbox itself sends at the real time."""
    today = clock.local_today()
    return datetime(today.year, today.month, today.day, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def due_tasks(clinic, patients, assignees, *, message=""):
    now = working_hours_now()
    FollowUpTask.objects.bulk_create(
        [
            FollowUpTask(
                clinic=clinic,
                patient=patient,
                title="术后电话随访",
                action=Action.RE_EXAM if message else Action.CALL,
                assignee=assignee,
                role=Role.ASSISTANT,
                due_at=now - timedelta(minutes=5),
                window_end=now + timedelta(hours=8),
                message=message.format(n=i) if message else "",
                reminder_state=ReminderState.PENDING if message else ReminderState.NONE,
            )
            for i, (patient, assignee) in enumerate(zip(patients, assignees, strict=True))
        ]
    )


def staff_members(clinic, n):
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"staff-{i:04d}") for i in range(n)])
    Membership.objects.bulk_create(
        [
            Membership(user=u, clinic=clinic, role=Role.ASSISTANT, wecom_userid=f"wx-{i:04d}")
            for i, u in enumerate(users)
        ]
    )
    return users


def patients(clinic, n):
    return Patient.objects.bulk_create(
        [Patient(clinic=clinic, name=f"患者{i}", external_userid=f"wm-{i:04d}") for i in range(n)]
    )


def beat(every=10.0):
    """What celery beat does every 10 s: wechat.tasks.deliveries_scan."""
    last = [0.0]

    def tick():
        if time.monotonic() - last[0] >= every:
            last[0] = time.monotonic()
            deliveries_scan()

    return tick


def report(name, figures):
    folder = settings.BASE_DIR / "test-artifacts"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(figures, indent=2))
    print(name, figures)


@pytest.mark.worker
def test_worker_killed_mid_batch_every_digest_arrives_once(
    clinic, wecom_account, fake_wecom, fake_wecom_server
):
    users = staff_members(clinic, N)
    due_tasks(clinic, [patients(clinic, 1)[0]] * N, users)
    fake_wecom.faults["slow_ms"] = 20
    broker_purge()
    worker = Worker(wecom_base_url=fake_wecom_server[1]).start()
    try:
        started = time.monotonic()
        assert services.due_scan(now=working_hours_now())["digests"] == N
        assert wait_until(lambda: len(fake_wecom.messages) >= 300, timeout=180, tick=beat())
        # Make every call in flight last 3 s, so the kill lands between WeCom accepting a
        # message and the worker recording it: the one case that can duplicate.
        fake_wecom.faults["slow_ms"] = 3000
        time.sleep(0.5)
        worker.kill()
        at_kill = Counter(Delivery.objects.values_list("status", flat=True))
        time.sleep(3.5)  # the fake finishes (accepts) the calls the dead worker left
        fake_wecom.faults["slow_ms"] = 0
        accepted_at_kill = len(fake_wecom.messages)
        # Time passes: the dead worker's claims outlive their lease (3 minutes).
        Delivery.objects.filter(status=DeliveryStatus.SENDING).update(
            claimed_at=F("claimed_at") - outbox.LEASE - timedelta(seconds=1)
        )
        recovered = outbox.deliveries_recover_stale()
        worker = Worker(wecom_base_url=fake_wecom_server[1]).start()
        done = wait_until(
            lambda: (
                Delivery.objects.filter(channel="app_message", status=DeliveryStatus.SENT).count()
                == N
            ),
            timeout=240,
            tick=beat(),
            every=0.5,
        )
        elapsed = time.monotonic() - started
    finally:
        worker.stop()
    per_member = Counter(m["touser"] for m in fake_wecom.messages)
    flagged = Delivery.objects.filter(possible_duplicate=True)
    figures = {
        "deliveries": N,
        "sent_before_kill": at_kill[DeliveryStatus.SENT],
        "sending_at_kill": at_kill[DeliveryStatus.SENDING],
        "accepted_by_wecom_at_kill": accepted_at_kill,
        "recovered": recovered,
        "flagged_possible_duplicate": flagged.count(),
        "wecom_duplicate_check_suppressed": fake_wecom.duplicates_suppressed,
        "received_once": sum(1 for c in per_member.values() if c == 1),
        "lost": N - len(per_member),
        "duplicated": sum(c - 1 for c in per_member.values()),
        "dropped_by_wecom": len(fake_wecom.dropped),
        "seconds": round(elapsed, 1),
        "statuses": dict(
            Counter(Delivery.objects.filter(channel="app_message").values_list("status", flat=True))
        ),
    }
    report("reliability-worker-kill", figures)
    assert done, figures
    assert set(per_member) == {f"wx-{i:04d}" for i in range(N)}
    assert (figures["lost"], figures["duplicated"], figures["dropped_by_wecom"]) == (0, 0, 0)
    assert at_kill[DeliveryStatus.SENDING] >= 1 and recovered == at_kill[DeliveryStatus.SENDING]
    # The calls in flight at the kill are flagged: their attempt never finished.
    assert flagged.count() >= 1
    for delivery in flagged:
        assert delivery.attempt_rows.filter(error="worker lost during the call").exists()
    # WeCom had accepted them; the resend is deduplicated by WeCom (enable_duplicate_check),
    # so each flagged row cost one extra call and no extra message.
    assert 1 <= fake_wecom.duplicates_suppressed <= flagged.count()
    assert fake_wecom.calls["message/send"] == N + fake_wecom.duplicates_suppressed
    # One successful attempt per digest; the flagged rows also keep their lost attempt.
    attempts = DeliveryAttempt.objects.filter(delivery__channel="app_message")
    assert attempts.filter(ok=True).count() == N
    assert attempts.filter(error="worker lost during the call").count() == flagged.count()


@pytest.mark.worker
def test_redis_flushed_mid_batch_every_reminder_arrives_once(
    clinic, wecom_account, fake_wecom, fake_wecom_server, assistant
):
    Membership.objects.filter(user=assistant).update(wecom_userid="wx-assistant")
    people = patients(clinic, N)
    due_tasks(clinic, people, [assistant] * N, message="您好，请按时来院复查（{n}）。")
    # Slower than the pacing allows, so that work queues up in the broker to be flushed.
    fake_wecom.faults["slow_ms"] = 50
    broker_purge()
    assert settings.CELERY_BROKER_URL != settings.CACHES["default"].get("LOCATION")
    worker = Worker(wecom_base_url=fake_wecom_server[1]).start()
    try:
        started = time.monotonic()
        assert services.due_scan(now=working_hours_now())["enqueued"] == N
        assert wait_until(
            lambda: len(fake_wecom.customer_messages) >= 300, timeout=180, tick=beat()
        )
        queued = sum(broker_queue_length(queue) for queue in settings.CELERY_QUEUE_NAMES)
        broker_purge()  # this test's broker keys: its DB's, or its worker's prefix's
        at_flush = len(fake_wecom.customer_messages)
        done = wait_until(
            lambda: (
                Delivery.objects.filter(
                    channel="customer_message", status=DeliveryStatus.SENT
                ).count()
                == N
            ),
            timeout=240,
            tick=beat(),
            every=0.5,
        )
        elapsed = time.monotonic() - started
    finally:
        worker.stop()
    per_patient = Counter(uid for m in fake_wecom.customer_messages for uid in m["external_userid"])
    figures = {
        "reminders": N,
        "received_before_flush": at_flush,
        "broker_messages_flushed": queued,
        "received_once": sum(1 for c in per_patient.values() if c == 1),
        "lost": N - len(per_patient),
        "duplicated": sum(c - 1 for c in per_patient.values()),
        "seconds": round(elapsed, 1),
    }
    report("reliability-redis-flush", figures)
    assert done, figures
    assert queued > 0  # the flush did throw work away
    assert set(per_patient) == {p.external_userid for p in people}
    assert (figures["lost"], figures["duplicated"]) == (0, 0)
    assert not FollowUpTask.objects.filter(reminder_state=ReminderState.PENDING).exists()


@pytest.mark.worker
def test_worker_killed_mid_block_resends_no_customer_message_it_had_sent(
    clinic, wecom_account, fake_wecom, fake_wecom_server, assistant
):
    """A sender claims a block of 20 rows; WeCom cannot deduplicate a customer message, so
    each is recorded as soon as WeCom accepts it. Killed mid-block, the worker leaves only
    its calls in flight (one per process) in doubt: those are looked up in WeCom before any
    resend, the rest of the block is sent, and nothing reaches a patient twice."""
    n = 400
    Membership.objects.filter(user=assistant).update(wecom_userid="wx-assistant")
    people = patients(clinic, n)
    due_tasks(clinic, people, [assistant] * n, message="您好，请按时来院复查（{n}）。")
    fake_wecom.faults["slow_ms"] = 20
    broker_purge()
    worker = Worker(wecom_base_url=fake_wecom_server[1]).start()
    try:
        assert services.due_scan(now=working_hours_now())["enqueued"] == n
        assert wait_until(
            lambda: len(fake_wecom.customer_messages) >= 100, timeout=180, tick=beat()
        )
        fake_wecom.faults["slow_ms"] = 3000  # the kill lands during the calls
        time.sleep(0.5)
        worker.kill()
        sending_at_kill = Delivery.objects.filter(status=DeliveryStatus.SENDING).count()
        time.sleep(3.5)  # the fake accepts the calls the dead worker left
        fake_wecom.faults["slow_ms"] = 0
        in_wecom_at_restart = {m["msgid"] for m in fake_wecom.customer_messages}
        Delivery.objects.filter(status=DeliveryStatus.SENDING).update(
            claimed_at=F("claimed_at") - outbox.LEASE - timedelta(seconds=1)
        )
        recovered = outbox.deliveries_recover_stale()
        worker = Worker(wecom_base_url=fake_wecom_server[1]).start()
        done = wait_until(
            lambda: (
                Delivery.objects.filter(
                    channel="customer_message", status=DeliveryStatus.SENT
                ).count()
                == n
            ),
            timeout=240,
            tick=beat(),
            every=0.5,
        )
    finally:
        worker.stop()
    per_patient = Counter(uid for m in fake_wecom.customer_messages for uid in m["external_userid"])
    figures = {
        "reminders": n,
        "sending_at_kill": sending_at_kill,
        "recovered": recovered,
        "flagged_possible_duplicate": Delivery.objects.filter(possible_duplicate=True).count(),
        # In doubt and found in WeCom: the dead worker's call had created the task.
        "found_in_wecom": Delivery.objects.filter(
            possible_duplicate=True, provider_message_id__in=in_wecom_at_restart
        ).count(),
        "lost": n - len(per_patient),
        "duplicated": sum(c - 1 for c in per_patient.values()),
    }
    report("reliability-worker-kill-customer-messages", figures)
    assert done, figures
    assert figures["lost"] == 0 and recovered == sending_at_kill >= 1, figures
    # The calls in flight at the kill are in doubt: each is looked up in WeCom (the
    # sender's tasks in the attempt's window, get_groupmsg_list_v2) before any resend, and
    # resent only when WeCom has no such task. No patient gets a reminder twice.
    assert figures["flagged_possible_duplicate"] >= figures["found_in_wecom"] >= 1, figures
    assert fake_wecom.calls["externalcontact/get_groupmsg_list_v2"] >= 1, figures
    assert figures["duplicated"] == 0, figures
    assert Touch.objects.filter(kind="message", patient__in=people).count() >= n


@pytest.mark.worker
def test_two_workers_as_on_two_machines_one_killed_mid_batch_every_digest_arrives_once(
    clinic, wecom_account, fake_wecom, fake_wecom_server
):
    """Two worker processes, each in its own process group as if on its own machine, one
    broker and one database: one is SIGKILLed mid-batch, the other finishes the batch."""
    n = 400
    users = staff_members(clinic, n)
    due_tasks(clinic, [patients(clinic, 1)[0]] * n, users)
    fake_wecom.faults["slow_ms"] = 20
    broker_purge()
    first = Worker(wecom_base_url=fake_wecom_server[1], concurrency=2, name="machine-a").start()
    second = Worker(wecom_base_url=fake_wecom_server[1], concurrency=2, name="machine-b").start()
    try:
        assert os.getpgid(first.process.pid) != os.getpgid(second.process.pid)
        assert services.due_scan(now=working_hours_now())["digests"] == n
        assert wait_until(lambda: len(fake_wecom.messages) >= n // 4, timeout=180, tick=beat())
        first.kill()
        at_kill = Counter(Delivery.objects.values_list("status", flat=True))
        # The dead machine's claims outlive their lease; the beat's scan hands them over.
        Delivery.objects.filter(status=DeliveryStatus.SENDING).update(
            claimed_at=F("claimed_at") - outbox.LEASE - timedelta(seconds=1)
        )
        done = wait_until(
            lambda: (
                Delivery.objects.filter(channel="app_message", status=DeliveryStatus.SENT).count()
                == n
            ),
            timeout=240,
            tick=beat(every=2.0),
            every=0.5,
        )
    finally:
        first.stop()
        second.stop()
    per_member = Counter(m["touser"] for m in fake_wecom.messages)
    figures = {
        "deliveries": n,
        "sent_before_kill": at_kill[DeliveryStatus.SENT],
        "sending_at_kill": at_kill[DeliveryStatus.SENDING],
        "lost": n - len(per_member),
        "duplicated": sum(c - 1 for c in per_member.values()),
        "wecom_duplicate_check_suppressed": fake_wecom.duplicates_suppressed,
    }
    report("reliability-two-workers-kill", figures)
    assert done, figures
    assert at_kill[DeliveryStatus.SENT] < n  # the kill landed mid-batch
    assert set(per_member) == {f"wx-{i:04d}" for i in range(n)}
    assert (figures["lost"], figures["duplicated"]) == (0, 0)
