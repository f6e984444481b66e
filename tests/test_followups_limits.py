"""Reminders against the fake WeCom's real limits and faults, sent by the outbox's own
code (wechat.services.delivery_send, what the worker runs) in this process."""

import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum

from crm.models import Membership
from followups import clock, services
from followups.models import Action, FollowUpTask, ReminderState
from patients.models import Patient
from wechat import services as outbox
from wechat.models import Delivery, DeliveryAttempt, DeliveryStatus

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def ten_am(days=0):
    day = clock.local_today() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI)


def send_all(timeout):
    """The worker's loop: send whatever is due until every row is final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for delivery_id in outbox.deliveries_due_ids():
            outbox.delivery_send(delivery_id)
        if not Delivery.objects.exclude(
            status__in=[DeliveryStatus.SENT, DeliveryStatus.DEAD]
        ).exists():
            return True
        time.sleep(0.1)
    return False


def gaps(messages):
    times = sorted(m["at"] for m in messages)
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_paced_under_the_member_and_robot_limits_nothing_dropped(
    settings, clinic, wecom_account, fake_wecom, assistant, make_patient
):
    """31 digests to one member (WeCom drops the 31st within a minute) and 21 robot
    messages (WeCom answers 130101 to the 21st within a minute)."""
    settings.FOLLOWUPS_DIGEST_SLOT_MINUTES = 1
    # WeCom's limits with windows ten times shorter, here and in the fake: the same counts and
    # ratios (what the pacing keeps under), a tenth of the wait.
    scale = settings.WECOM_LIMIT_WINDOW_SCALE = fake_wecom.window_scale = 0.1
    Membership.objects.filter(user=assistant).update(wecom_userid="wx-assistant")
    patient = make_patient(assigned_assistant=assistant)
    for i in range(31):
        services.task_create(
            patient=patient,
            title=f"电话随访{i}",
            assignee=assistant,
            due_at=ten_am() + timedelta(minutes=i),
        )
    for day in range(1, 22):
        services.task_create(patient=patient, title=f"第{day}天", role="nurse", due_at=ten_am(day))
    for i in range(31):
        services.staff_digests_enqueue(now=ten_am() + timedelta(minutes=i, seconds=30))
    for day in range(1, 22):
        morning = ten_am(day) - timedelta(hours=1, minutes=29)  # 08:31
        assert services.team_digests_enqueue(now=morning) == 1
    assert Delivery.objects.filter(channel="app_message").count() == 31
    assert Delivery.objects.filter(channel="robot").count() == 21
    assert fake_wecom.enforce_limits
    assert send_all(timeout=60)
    assert len(fake_wecom.messages) == 31 and fake_wecom.dropped == []
    assert len(fake_wecom.robot_messages) == 21 and fake_wecom.rate_limited == {}
    # One try each: pacing avoided the limits instead of retrying into them.
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}
    assert min(gaps(fake_wecom.messages)) >= 4.0 * scale  # 80 % of 1,000/h: one per 4.5 s
    assert min(gaps(fake_wecom.robot_messages)) >= 3.2 * scale  # 80 % of 20/min: one per 3.75 s


def test_rate_limit_answers_and_an_expired_token_still_deliver_each_reminder_once(
    settings, clinic, wecom_account, fake_wecom, assistant
):
    settings.WECOM_RETRY_DELAYS = (0.2, 0.4, 0.8)
    Membership.objects.filter(user=assistant).update(wecom_userid="wx-assistant")
    patients = Patient.objects.bulk_create(
        [Patient(clinic=clinic, name=f"患者{i}", external_userid=f"wm-{i}") for i in range(60)]
    )
    FollowUpTask.objects.bulk_create(
        [
            FollowUpTask(
                clinic=clinic,
                patient=p,
                title="复查提醒",
                action=Action.RE_EXAM,
                assignee=assistant,
                due_at=ten_am() - timedelta(minutes=1),
                window_end=ten_am() + timedelta(hours=8),
                message=f"{p.name}您好，请按时复查。",
                reminder_state=ReminderState.PENDING,
            )
            for p in patients
        ]
    )
    fake_wecom.faults.update({"errcode": 45009, "every": 3, "expire_token_once": True})
    assert services.due_scan(now=ten_am())["enqueued"] == 60
    assert send_all(timeout=120)
    received = Counter(uid for m in fake_wecom.customer_messages for uid in m["external_userid"])
    assert received == Counter({f"wm-{i}": 1 for i in range(60)})
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    rate_limited = DeliveryAttempt.objects.filter(errcode=45009)
    total_calls = sum(
        fake_wecom.calls[p] for p in ("message/send", "externalcontact/add_msg_template")
    )
    # A third of the calls answered 45009, each recorded as a failed attempt and retried.
    assert rate_limited.count() >= total_calls // 3 - 1 > 0
    assert DeliveryAttempt.objects.count() == Delivery.objects.aggregate(n=Sum("attempts"))["n"]
    assert DeliveryAttempt.objects.filter(ok=True).count() == Delivery.objects.count()
    assert fake_wecom.token_requests == 2  # the first token, and one refresh after 42001
