"""Calling from a follow-up task (拨打, audited), 未联系上 retries ending as 漏访, 约定回电
callback tasks, and the figures counting only reached patients."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm.models import AuditAction, AuditEvent, Membership, Role
from followups import calls, clock, services
from followups.models import (
    Action,
    CarePlan,
    FollowUpSettings,
    FollowUpTask,
    Outcome,
    PlanStatus,
    TaskStatus,
)
from followups.selectors import followup_figures
from tests.conftest import make_staff
from tests.followups_factories import step

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def sh(*args):
    return datetime(*args, tzinfo=SH)


@pytest.fixture
def call_task(clinic, make_patient, assistant):
    """One open call task of the assistant's patient, due now."""
    patient = make_patient(name="钱七", phone="13800138000", assigned_assistant=assistant)
    template = services.template_create(
        clinic=clinic, name="电话随访", steps=[step("术后电话随访", 0)]
    )
    plan, _ = services.plan_start(
        patient=patient, template=template, anchor_date=clock.local_today()
    )
    return plan.tasks.get()


def url(task, action):
    return f"/api/followup-tasks/{task.pk}/{action}/"


# 拨打 -----------------------------------------------------------------------------------


def test_who_may_call_is_one_capability_on_the_membership(staff):
    may = {role: Membership.objects.get(user=user).can_call for role, user in staff.items()}
    assert may == {
        "admin": True,
        "doctor": True,
        "assistant": True,
        "nurse": True,
        "operations": False,
    }


def test_assistant_calls_from_a_task_the_number_is_audited_with_the_task(api, assistant, call_task):
    client = api(assistant)
    response = client.post(url(call_task, "call"))
    assert response.status_code == 200
    assert response.json() == {"phone": "13800138000", "tel": "tel:+8613800138000"}
    assert "no-store" in response["Cache-Control"].split(", ")
    event = AuditEvent.objects.get(action=AuditAction.CALL_REVEAL)
    assert (event.user, event.action, event.object_type, event.object_id) == (
        assistant,
        "call_reveal",
        "patient",
        str(call_task.patient_id),
    )
    assert event.detail["task_id"] == call_task.pk and event.detail["reason"] == "followup_task"
    # Lists stay masked: the task list and the patient list never carry the full number.
    listed = client.get("/api/followup-tasks/?view=mine").content.decode()
    patients = client.get("/api/patients/").content.decode()
    assert "13800138000" not in listed and "13800138000" not in patients
    assert "138****8000" in patients


def test_operations_may_not_call_and_nothing_is_logged(api, staff, call_task):
    response = api(staff["operations"]).post(url(call_task, "call"))
    assert response.status_code == 403
    assert response.json()["message"] == "您的角色不能给患者拨打电话。"
    assert not AuditEvent.objects.filter(action=AuditAction.CALL_REVEAL).exists()


def test_a_nurse_calls_for_her_wards_only(api, clinic, nurse, nurse_ward, make_patient):
    template = services.template_create(
        clinic=clinic, name="护士回访", steps=[step("出院回访", 0, role="nurse")]
    )
    mine = make_patient(name="病区内", ward=nurse_ward)
    other = make_patient(name="病区外")
    for patient in (mine, other):
        services.plan_start(patient=patient, template=template, anchor_date=clock.local_today())
    client = api(nurse)
    assert client.post(url(mine.followup_tasks.get(), "call")).status_code == 200
    assert client.post(url(other.followup_tasks.get(), "call")).status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.CALL_REVEAL).count() == 1


def test_outsider_gets_404_and_a_closed_task_has_nothing_to_call(
    api, assistant, outsider, call_task
):
    assert api(outsider).post(url(call_task, "call")).status_code == 404
    services.followup_complete(task=call_task, by=assistant, outcome=Outcome.REACHED)
    response = api(assistant).post(url(call_task, "call"))
    assert response.status_code == 400
    assert response.json()["message"] == "该任务已关闭，无需拨打。"
    assert not AuditEvent.objects.filter(action=AuditAction.CALL_REVEAL).exists()


# 未联系上 → next attempt → 漏访 -------------------------------------------------------------


@pytest.mark.parametrize(
    "start, hours, expected",
    [
        (sh(2026, 3, 2, 10, 0), 4, sh(2026, 3, 2, 14, 0)),
        (sh(2026, 3, 2, 18, 0), 4, sh(2026, 3, 3, 10, 0)),  # 2 h today, 2 h tomorrow
        (sh(2026, 3, 2, 22, 30), 4, sh(2026, 3, 3, 12, 0)),  # the night does not count
        (sh(2026, 3, 2, 6, 0), 1, sh(2026, 3, 2, 9, 0)),
        (sh(2026, 3, 2, 9, 0), 30, sh(2026, 3, 4, 15, 0)),  # 11 + 12 + 7 staff hours
    ],
)
def test_retry_interval_counts_staff_hours_only(start, hours, expected):
    assert clock.add_staff_hours(start, hours) == expected


def test_not_reached_keeps_the_task_open_then_unreachable_after_the_last(api, assistant, call_task):
    client = api(assistant)
    plan = call_task.plan
    for attempt in (1, 2):
        before = timezone.now()
        body = client.post(url(call_task, "complete"), {"outcome": "not_reached"}).json()
        after = timezone.now()
        task = FollowUpTask.objects.get(pk=call_task.pk)
        assert (body["status"], body["attempts"]) == ("open", attempt)
        assert (task.status, task.outcome, task.done_at) == (TaskStatus.OPEN, "", None)
        assert clock.add_staff_hours(before, 4) <= task.due_at <= clock.add_staff_hours(after, 4)
        assert task.window_end >= task.due_at and task.staff_reminded_at is None
    body = client.post(url(call_task, "complete"), {"outcome": "not_reached"}).json()
    task = FollowUpTask.objects.get(pk=call_task.pk)
    assert (task.status, task.outcome, task.attempts) == ("unreachable", "not_reached", 3)
    assert task.done_at is not None and task.done_by == assistant
    assert body["status_display"] == "漏访"
    # Every attempt is on the timeline, the last says 漏访.
    summaries = list(
        task.patient.touches.filter(payload__task_id=task.pk)
        .order_by("id")
        .values_list("summary", flat=True)
    )
    assert [s.split("（")[1].split("）")[0] for s in summaries] == [
        "第 1 次，共 3 次",
        "第 2 次，共 3 次",
        "第 3 次，共 3 次",
    ]
    assert "下次尝试" in summaries[0] and summaries[2].endswith("记为漏访")
    # Its plan had no other open step: it ends.
    assert CarePlan.objects.get(pk=plan.pk).status == PlanStatus.FINISHED
    # An unreachable task is closed: no fourth attempt.
    again = client.post(url(call_task, "complete"), {"outcome": "not_reached"})
    assert again.status_code == 400 and again.json()["message"] == "该任务已关闭。"


def test_the_clinic_sets_attempts_and_interval(api, clinic, assistant, call_task):
    FollowUpSettings.objects.create(clinic=clinic, call_attempts=1, call_retry_hours=2)
    api(assistant).post(url(call_task, "complete"), {"outcome": "not_reached"})
    assert FollowUpTask.objects.get(pk=call_task.pk).status == TaskStatus.UNREACHABLE
    assert calls.followup_settings(clinic.pk).call_retry_hours == 2


def test_settings_default_to_three_attempts_four_hours(clinic):
    settings = calls.followup_settings(clinic.pk)
    assert (settings.call_attempts, settings.call_retry_hours) == (3, 4)


# 约定回电 ---------------------------------------------------------------------------------


def test_callback_closes_the_task_and_makes_one_at_the_agreed_time(api, assistant, call_task):
    agreed = (
        (timezone.now() + timedelta(days=1))
        .astimezone(SH)
        .replace(hour=15, minute=30, second=0, microsecond=0)
    )
    response = api(assistant).post(
        url(call_task, "complete"),
        {"outcome": "callback", "callback_at": agreed.isoformat(), "notes": "下午开会"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    task = FollowUpTask.objects.get(pk=call_task.pk)
    assert (task.status, task.outcome) == (TaskStatus.DONE, "callback")
    callback = FollowUpTask.objects.get(callback_of=task)
    assert (callback.status, callback.action, callback.assignee) == ("open", "call", assistant)
    assert callback.due_at == agreed and callback.window_end == agreed + timedelta(hours=1)
    assert callback.title == "约定回电：术后电话随访" and callback.notes == "下午开会"
    touch = task.patient.touches.get(payload__task_id=task.pk)
    assert "约定回电" in touch.summary and agreed.strftime("%m-%d %H:%M") in touch.summary


def test_a_pool_task_calls_back_by_the_one_who_called(api, clinic, assistant, make_patient):
    patient = make_patient(name="无助理")  # no assistant of their own: the assistants' pool
    task = services.task_create(patient=patient, title="回访", role=Role.ASSISTANT)
    agreed = timezone.now() + timedelta(hours=3)
    services.followup_complete(
        task=task, by=assistant, outcome=Outcome.CALLBACK, callback_at=agreed
    )
    assert FollowUpTask.objects.get(callback_of=task).assignee == assistant


@pytest.mark.parametrize(
    "callback_at, message",
    [
        (None, "请填写约定回电的时间。"),
        ("2020-01-01T10:00:00+08:00", "约定回电的时间已过，请选择之后的时间。"),
        ("2099-01-01T10:00:00+08:00", "约定回电最多可约在 90 天以内。"),
    ],
)
def test_a_bad_callback_time_is_a_chinese_error_and_changes_nothing(
    api, assistant, call_task, callback_at, message
):
    body = {"outcome": "callback"} | ({"callback_at": callback_at} if callback_at else {})
    response = api(assistant).post(url(call_task, "complete"), body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["callback_at"] == [message]
    task = FollowUpTask.objects.get(pk=call_task.pk)
    assert (task.status, task.outcome) == (TaskStatus.OPEN, "")
    assert FollowUpTask.objects.count() == 1
    assert not task.patient.touches.filter(payload__task_id=task.pk).exists()


def test_a_malformed_callback_time_is_a_400(api, assistant, call_task):
    response = api(assistant).post(
        url(call_task, "complete"), {"outcome": "callback", "callback_at": "明天下午"}
    )
    assert response.status_code == 400 and "callback_at" in response.json()["errors"]
    assert FollowUpTask.objects.get(pk=call_task.pk).status == TaskStatus.OPEN


def test_queue_page_records_a_callback_and_a_missing_time_says_so(client, assistant, call_task):
    client.force_login(assistant)
    page = client.get("/followups/queue/").content.decode()
    assert f'href="/patients/{call_task.patient_id}/"' in page and 'data-testid="call"' in page
    assert "138****8000" in page and "13800138000" not in page
    response = client.post(
        f"/followups/tasks/{call_task.pk}/complete/", {"outcome": "callback"}, follow=True
    )
    assert "请填写约定回电的时间。" in response.content.decode()
    assert FollowUpTask.objects.get(pk=call_task.pk).status == TaskStatus.OPEN
    agreed = (timezone.now() + timedelta(days=2)).astimezone(SH).replace(second=0, microsecond=0)
    response = client.post(
        f"/followups/tasks/{call_task.pk}/complete/",
        {"outcome": "callback", "callback_at": agreed.strftime("%Y-%m-%dT%H:%M")},
        follow=True,
    )
    assert f"已约定 {agreed:%m-%d %H:%M} 回电" in response.content.decode()
    assert FollowUpTask.objects.get(callback_of=call_task).due_at == agreed


def test_operations_sees_no_call_button(client, staff, clinic, make_patient):
    patient = make_patient(name="运营看")
    services.task_create(patient=patient, title="回访", assignee=staff["operations"])
    client.force_login(staff["operations"])
    page = client.get("/followups/queue/").content.decode()
    assert "运营看" in page and 'data-testid="call"' not in page


# Figures: reached only, unreachable apart -----------------------------------------------------


def test_figures_count_reached_patients_and_unreachable_apart(clinic, make_patient, assistant):
    patient = make_patient()

    def task(status, outcome="", done=True):
        due = sh(2026, 3, 2, 9)
        return FollowUpTask.objects.create(
            clinic=clinic,
            patient=patient,
            title="电话随访",
            action=Action.CALL,
            role="assistant",
            due_at=due,
            window_end=due.replace(hour=18),
            status=status,
            outcome=outcome,
            done_at=due + timedelta(hours=1) if done else None,
        )

    task(TaskStatus.DONE, Outcome.REACHED)
    task(TaskStatus.DONE, Outcome.CALLBACK)  # reached, a callback agreed
    task(TaskStatus.UNREACHABLE, Outcome.NOT_REACHED)
    task(TaskStatus.DONE, Outcome.NOT_REACHED)  # closed before retries existed: not reached
    task(TaskStatus.OPEN, done=False)
    figures = followup_figures(clinic=clinic, start=sh(2026, 3, 1, 0), end=sh(2026, 4, 1, 0))
    assert figures == {
        "due": 5,
        "done": 2,
        "on_time": 2,
        "unreachable": 2,
        "completion": 0.4,
        "timeliness": 0.4,
        "unreachable_share": 0.4,
        "median_delay_hours": 1.0,
    }


def test_unreachable_needs_its_time_like_done(clinic, make_patient):
    from django.db import IntegrityError, transaction

    patient = make_patient()
    due = sh(2026, 3, 2, 9)
    with pytest.raises(IntegrityError), transaction.atomic():
        FollowUpTask.objects.create(
            clinic=clinic,
            patient=patient,
            title="x",
            action=Action.CALL,
            role="assistant",
            due_at=due,
            window_end=due,
            status=TaskStatus.UNREACHABLE,
        )


def test_another_doctor_in_the_figures_api_sees_unreachable(api, clinic, doctor, make_patient):
    make_staff(clinic, "doctor", "doctor-b")
    patient = make_patient(assigned_doctor=doctor)
    task = services.task_create(
        patient=patient, title="回访", role=Role.ASSISTANT, due_at=sh(2026, 3, 2, 9)
    )
    FollowUpSettings.objects.create(clinic=clinic, call_attempts=1)
    services.followup_complete(task=task, by=doctor, outcome=Outcome.NOT_REACHED)
    body = api(doctor).get("/api/followup-figures/?start=2026-03-01&end=2026-03-31").json()
    assert (body["due"], body["done"], body["unreachable"], body["unreachable_share"]) == (
        1,
        0,
        1,
        1.0,
    )


# The clinic's call settings -------------------------------------------------------------------


def test_admins_change_the_call_settings_others_read_them(api, clinic, admin_user, assistant):
    url = "/api/followup-settings/"
    assert api(assistant).get(url).json()["call_attempts"] == 3
    assert api(assistant).patch(url, {"call_attempts": 5}, format="json").status_code == 403
    body = api(admin_user).patch(url, {"call_attempts": 5, "call_retry_hours": 2}, format="json")
    assert (body.json()["call_attempts"], body.json()["call_retry_hours"]) == (5, 2)
    for data, field, message in (
        ({"call_attempts": 0}, "call_attempts", "拨打次数须在 1 到 10 之间。"),
        ({"call_retry_hours": 100}, "call_retry_hours", "两次拨打的间隔须在 1 到 72 小时之间。"),
    ):
        response = api(admin_user).patch(url, data, format="json")
        assert response.status_code == 400 and response.json()["errors"][field] == [message]
    settings = FollowUpSettings.objects.get(clinic=clinic)
    assert (settings.call_attempts, settings.call_retry_hours) == (5, 2)


def test_the_settings_form_on_the_templates_page(client, clinic, admin_user, assistant):
    client.force_login(assistant)
    assert 'name="call_attempts"' not in client.get("/followups/templates/").content.decode()
    assert client.post("/followups/settings/", {"call_attempts": 2}).status_code == 403
    client.force_login(admin_user)
    page = client.get("/followups/templates/").content.decode()
    assert "4 个工作小时后再次拨打" in page and 'name="call_attempts"' in page
    response = client.post(
        "/followups/settings/", {"call_attempts": "11", "call_retry_hours": "4"}, follow=True
    )
    assert "拨打次数须在 1 到 10 之间。" in response.content.decode()
    response = client.post(
        "/followups/settings/", {"call_attempts": "2", "call_retry_hours": "6"}, follow=True
    )
    assert "随访设置已保存。" in response.content.decode()
    assert calls.followup_settings(clinic.pk).call_attempts == 2


def test_a_callback_agreed_on_a_callback_keeps_its_title(assistant, call_task):
    first = timezone.now() + timedelta(hours=2)
    services.followup_complete(
        task=call_task, by=assistant, outcome=Outcome.CALLBACK, callback_at=first
    )
    callback = FollowUpTask.objects.get(callback_of=call_task)
    services.followup_complete(
        task=callback, by=assistant, outcome=Outcome.CALLBACK, callback_at=first + timedelta(days=1)
    )
    again = FollowUpTask.objects.get(callback_of=callback)
    assert again.title == callback.title == "约定回电：术后电话随访"


def test_the_queue_reads_the_callback_time_as_clinic_time(client, settings, assistant, call_task):
    settings.TIME_ZONE = "UTC"  # the server's zone is not the clinic's
    client.force_login(assistant)
    agreed = (timezone.now() + timedelta(days=2)).astimezone(SH).replace(second=0, microsecond=0)
    client.post(
        f"/followups/tasks/{call_task.pk}/complete/",
        {"outcome": "callback", "callback_at": agreed.strftime("%Y-%m-%dT%H:%M")},
    )
    assert FollowUpTask.objects.get(callback_of=call_task).due_at == agreed
