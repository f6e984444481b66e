"""The due scan: digests per assignee, the morning robot digest, patient reminders with
skips and quiet hours, send results; day boundaries in Asia/Shanghai whatever the
process's zone. Sending goes through the outbox to the fake WeCom over real HTTP."""

import os
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.models import Membership
from followups import clock, selectors, services
from followups.models import Action, FollowUpTask, ReminderState
from patients.choices import Stage
from patients.services import patient_update
from tests.followups_factories import step
from wechat import services as outbox
from wechat.models import Delivery, DeliveryChannel

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def sh(*args):
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def wecom_staff(staff):
    for role, user in staff.items():
        Membership.objects.filter(user=user).update(wecom_userid=f"wx-{role}")
    return staff


@pytest.fixture(params=["UTC", "America/New_York"])
def server_zone(request, settings):
    """The server's zone (process TZ and Django's TIME_ZONE) is not the clinic's."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    settings.TIME_ZONE = request.param
    yield request.param
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def start(clinic, patient, steps, anchor=date(2026, 3, 1), name="随访"):
    template = services.template_create(clinic=clinic, name=name, steps=steps)
    plan, _ = services.plan_start(patient=patient, template=template, anchor_date=anchor)
    return plan


def test_one_digest_per_assignee_however_many_tasks(clinic, make_patient, wecom_staff):
    assistant = wecom_staff["assistant"]
    for n in range(40):
        start(
            clinic,
            make_patient(name=f"患者{n}", assigned_assistant=assistant),
            [step(offset_days=0)],
            name=f"p{n}",
        )
    now = sh(2026, 3, 1, 10, 0)
    result = services.due_scan(now=now)
    assert result["digests"] == 1
    digest = Delivery.objects.get(channel=DeliveryChannel.APP_MESSAGE)
    assert digest.recipient == "wx-assistant"
    assert digest.idempotency_key == f"digest:{assistant.pk}:2026-03-01:10"
    assert digest.body.startswith("您有 40 项随访待办")
    assert not FollowUpTask.objects.filter(staff_reminded_at=None).exists()
    # The next scan announces nothing again.
    assert services.due_scan(now=now + timedelta(minutes=1))["digests"] == 0


def test_tasks_due_after_a_digest_wait_for_the_next_slot(clinic, make_patient, wecom_staff):
    assistant = wecom_staff["assistant"]
    patient = make_patient(assigned_assistant=assistant)
    start(
        clinic,
        patient,
        [step(offset_days=0, window_start="10:00"), step("下午", 0, window_start="10:30")],
    )
    services.due_scan(now=sh(2026, 3, 1, 10, 5))
    services.due_scan(now=sh(2026, 3, 1, 10, 40))  # same hour: no second message
    assert Delivery.objects.filter(channel="app_message").count() == 1
    services.due_scan(now=sh(2026, 3, 1, 11, 0))
    assert Delivery.objects.filter(channel="app_message").count() == 2
    assert "下午" in Delivery.objects.get(idempotency_key__endswith=":11").body


def test_no_staff_digest_at_night(clinic, make_patient, wecom_staff):
    start(clinic, make_patient(assigned_assistant=wecom_staff["assistant"]), [step(offset_days=0)])
    assert services.due_scan(now=sh(2026, 3, 1, 22, 0))["digests"] == 0
    assert services.due_scan(now=sh(2026, 3, 2, 8, 0))["digests"] == 1


def test_a_nurse_is_told_only_of_her_wards_patients(clinic, make_patient, staff, nurse_ward):
    """Nurse tasks go to the nurses' pool; a digest names patients, so each nurse hears only
    of her wards' patients, as her queue shows them; a ward-less patient's task goes to the
    admins."""
    from patients.models import Ward
    from patients.wards import ward_save
    from tests.conftest import make_staff

    mine = staff["nurse"].memberships.get()
    other = make_staff(clinic, "nurse", "a-nurse-2").memberships.get()
    ward_save(ward=Ward(clinic=clinic), name="二病区", nurses=[other])
    Membership.objects.filter(pk=mine.pk).update(wecom_userid="wx-nurse-1")
    Membership.objects.filter(pk=other.pk).update(wecom_userid="wx-nurse-2")
    nurse_step = [step("换药提醒", 0, role="nurse")]
    start(clinic, make_patient(name="一病区患者", ward=nurse_ward), nurse_step, name="a")
    start(clinic, make_patient(name="无病区患者"), nurse_step, name="b")
    Membership.objects.filter(user=staff["admin"]).update(wecom_userid="wx-admin")
    assert services.due_scan(now=sh(2026, 3, 1, 10, 0))["digests"] == 2
    to_nurse = Delivery.objects.get(channel=DeliveryChannel.APP_MESSAGE, recipient="wx-nurse-1")
    assert "一病区患者" in to_nurse.body and "无病区患者" not in to_nurse.body
    assert to_nurse.body.startswith("您有 1 项随访待办")
    # No nurse may see the ward-less patient: the admins, who can place them, are told.
    to_admin = Delivery.objects.get(channel=DeliveryChannel.APP_MESSAGE, recipient="wx-admin")
    assert "无病区患者" in to_admin.body and "一病区患者" not in to_admin.body
    assert not Delivery.objects.filter(recipient="wx-nurse-2").exists()
    assert not FollowUpTask.objects.filter(staff_reminded_at=None).exists()


def test_morning_digest_to_the_team_robot_once_a_day(
    clinic, make_patient, wecom_staff, wecom_account, fake_wecom
):
    start(clinic, make_patient(), [step(offset_days=0), step("明天", 1)])
    assert services.team_digests_enqueue(now=sh(2026, 3, 1, 8, 0)) == 0
    assert services.team_digests_enqueue(now=sh(2026, 3, 1, 8, 31)) == 1
    assert services.team_digests_enqueue(now=sh(2026, 3, 1, 9, 30)) == 0
    robot = Delivery.objects.get(channel=DeliveryChannel.ROBOT)
    assert robot.idempotency_key == f"team-digest:{clinic.pk}:2026-03-01"
    assert "今日随访 1 项" in robot.body
    assert outbox.delivery_send(robot.pk) == "sent"
    assert [m["content"] for m in fake_wecom.robot_messages] == [robot.body]


def re_exam(clinic, patient, anchor=date(2026, 3, 1), **kw):
    return start(
        clinic,
        patient,
        [step("复查提醒", 0, Action.RE_EXAM, message="{name}您好，请于{date}来院复查。", **kw)],
        anchor=anchor,
    ).tasks.get()


def test_re_exam_reminder_reaches_the_patient_and_the_result_is_recorded(
    clinic, make_patient, wecom_staff, wecom_account, fake_wecom
):
    patient = make_patient(
        name="赵六", external_userid="wm-zhao", assigned_assistant=wecom_staff["assistant"]
    )
    task = re_exam(clinic, patient)
    assert services.due_scan(now=sh(2026, 3, 1, 8, 59))["enqueued"] == 0
    assert services.due_scan(now=sh(2026, 3, 1, 9, 0))["enqueued"] == 1
    delivery = Delivery.objects.get(idempotency_key=f"followup:{task.pk}:reminder")
    assert (delivery.recipient, delivery.sender) == ("wm-zhao", "wx-assistant")
    fake_wecom.add_contact(userid="wx-assistant", external_userid="wm-zhao")
    assert outbox.delivery_send(delivery.pk) == "sent"
    # The composer appends the clinic's emergency notice to reminders too.
    assert [m["content"] for m in fake_wecom.customer_messages] == [
        "赵六您好，请于3月1日来院复查。\n\n急症请立即就医或拨打120。"
    ]
    # WeCom has a task the assistant must confirm; until then nothing is received.
    assert outbox.customer_results_poll()["waiting"] == 1
    assert services.reminder_results_poll()["waiting"] == 1
    fake_wecom.confirm(userid="wx-assistant")  # the assistant presses 发送 in WeCom
    assert outbox.customer_results_poll()["final"] == 1
    assert services.reminder_results_poll()["received"] == 1
    task.refresh_from_db()
    assert task.reminder_result == "sent"
    assert patient.touches.filter(payload__event="reminder_result").count() == 1
    # Scanning again sends nothing twice.
    services.due_scan(now=sh(2026, 3, 1, 9, 5))
    assert Delivery.objects.filter(channel="customer_message").count() == 1


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"consent_to_contact": False}, "患者已撤回同意"),
        ({"stage": Stage.CHURNED}, "患者已流失"),
        ({"external_userid": ""}, "患者不是企业微信联系人"),
    ],
)
def test_reminder_skipped_with_its_reason(clinic, make_patient, wecom_staff, change, reason):
    patient = make_patient(external_userid="wm-1", assigned_assistant=wecom_staff["assistant"])
    task = re_exam(clinic, patient)
    if "stage" in change:
        from patients.services import patient_set_stage

        patient_set_stage(patient=patient, stage=Stage.CHURNED)
    else:
        patient_update(patient=patient, **change)
    FollowUpTask.objects.filter(pk=task.pk).update(status="open")
    result = services.patient_reminders_enqueue(now=sh(2026, 3, 1, 10, 0))
    assert result["skipped"] == 1 and not Delivery.objects.exists()
    task.refresh_from_db()
    assert task.reminder_state == ReminderState.SKIPPED
    touch = patient.touches.filter(payload__event="reminder_skipped").get()
    assert reason in touch.summary


def test_reminder_in_quiet_hours_is_deferred_not_lost(
    clinic, make_patient, wecom_staff, wecom_account, fake_wecom
):
    patient = make_patient(external_userid="wm-2", assigned_assistant=wecom_staff["assistant"])
    day = clock.local_today() + timedelta(days=2)  # in the future, so the outbox must wait
    task = re_exam(clinic, patient, anchor=day)
    # The scan ran late (e.g. after an outage) at 22:10 Shanghai time.
    result = services.patient_reminders_enqueue(now=sh(day.year, day.month, day.day, 22, 10))
    assert result["deferred"] == 1
    delivery = Delivery.objects.get(idempotency_key=f"followup:{task.pk}:reminder")
    next_day = day + timedelta(days=1)
    assert delivery.next_attempt_at == sh(next_day.year, next_day.month, next_day.day, 8, 0)
    assert outbox.delivery_send(delivery.pk) == "not-due"  # not before 08:00
    assert fake_wecom.customer_messages == []
    assert "免打扰" in patient.touches.get(payload__event="reminder_deferred").summary


def test_day_boundaries_and_quiet_hours_in_shanghai(server_zone, clinic, make_patient, wecom_staff):
    assert time.strftime("%Z") in ("UTC", "EST", "EDT")
    patient = make_patient(external_userid="wm-3", assigned_assistant=wecom_staff["assistant"])
    task = re_exam(clinic, patient, window_start="08:00", window_end="09:00")
    assert task.due_at == sh(2026, 3, 1, 8, 0)
    # 23:30 UTC on Feb 28 is 07:30 on Mar 1 in Shanghai: the same clinic day, still quiet.
    late_utc = datetime(2026, 2, 28, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert clock.local_today(late_utc) == date(2026, 3, 1)
    assert clock.in_quiet_hours(late_utc)
    assert not clock.in_quiet_hours(sh(2026, 3, 1, 8, 0))
    assert clock.in_quiet_hours(sh(2026, 3, 1, 21, 0))
    start_of_day, end_of_day = clock.day_bounds(date(2026, 3, 1))
    assert start_of_day == datetime(2026, 2, 28, 16, 0, tzinfo=ZoneInfo("UTC"))
    assert end_of_day - start_of_day == timedelta(days=1)
    # In the queue at 08:30 Shanghai the task is "today"; at 09:01 it is overdue.
    assistant = wecom_staff["assistant"].memberships.get()
    today = selectors.task_queue(membership=assistant, now=sh(2026, 3, 1, 8, 30), view="today")
    assert list(today) == [task]
    overdue = selectors.task_queue(membership=assistant, now=sh(2026, 3, 1, 9, 1), view="overdue")
    assert list(overdue) == [task]
    assert services.due_scan(now=sh(2026, 3, 1, 8, 0))["enqueued"] == 1
