"""Follow-up tasks and their outbox rows for the benchmark dataset, written with COPY after
bench.loadgen.patients has written the patients (same COPY plumbing, same transaction).

What it makes, deterministic by seed: care plans started over the last year from the demo
SOPs (manual trigger, so no trigger scan replays them), their tasks done, skipped, cancelled,
open and overdue; patient reminders that were due put in the outbox as deliveries (mostly
sent; failed-and-retrying and queued only in the last two days, as in a live system); and,
on request, a morning batch of open tasks due at 09:00 tomorrow with a pending reminder for
the due-scan benchmark.
"""

import json
import random
from dataclasses import dataclass
from datetime import time, timedelta

from django.db import connection
from django.utils import timezone

from bench.loadgen.bulk_copy import Copier, Ids, begin_bulk_load, reset_sequence
from crm.models import Membership, Role
from followups import clock
from followups.care_templates import template_create
from followups.demo import TEMPLATES
from followups.models import (
    PATIENT_ACTIONS,
    Action,
    CarePlan,
    CarePlanTemplate,
    FollowUpTask,
    Outcome,
    PlanStatus,
    ReminderState,
    TaskStatus,
    Trigger,
)
from patients.choices import Stage
from patients.models import Patient
from wechat.composer import LEGACY_NAMES, VARIABLE_RE
from wechat.models import Delivery, DeliveryChannel, DeliveryStatus

PLAN_SHARE = 0.35
# Which SOP a plan follows (by name in followups.demo.TEMPLATES), and how often.
PLAN_WEIGHTS = {"复查提醒": 50, "满意度调查": 30, "术后随访": 20}
DONE_OUTCOMES = [Outcome.REACHED, Outcome.NOT_REACHED, Outcome.NEEDS_REVISIT, Outcome.ESCALATE]
DONE_OUTCOME_WEIGHTS = [70, 20, 7, 3]
NINE_MESSAGE = "{name}您好，请于今天来{clinic}复查，{doctor}已为您预留时间。"

TASK_COLUMNS = [
    "id",
    "clinic_id",
    "patient_id",
    "plan_id",
    "step_index",
    "title",
    "action",
    "assignee_id",
    "role",
    "due_at",
    "window_end",
    "status",
    "outcome",
    "notes",
    "cancel_reason",
    "message",
    "reminder_state",
    "reminder_delivery_id",
    "reminder_result",
    "staff_reminded_at",
    "done_at",
    "done_by_id",
    "created_at",
]
PLAN_COLUMNS = [
    "id",
    "clinic_id",
    "patient_id",
    "template_id",
    "version_id",
    "anchor_date",
    "status",
    "stop_reason",
    "started_by_id",
    "source_touch_id",
    "created_at",
    "ended_at",
]
DELIVERY_COLUMNS = [
    "id",
    "clinic_id",
    "idempotency_key",
    "channel",
    "recipient",
    "sender",
    "patient_id",
    "body",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "expires_at",
    "last_error",
    "provider_message_id",
    "possible_duplicate",
    "created_at",
    "sent_at",
]


@dataclass
class FollowupStats:
    plans: int = 0
    tasks: int = 0
    open_tasks: int = 0
    overdue_tasks: int = 0
    due_at_nine: int = 0
    deliveries: int = 0


def _templates(clinic):
    """The demo SOPs as manual plans (created once per clinic, through the service)."""
    found = {}
    for name, _trigger, _tag, _kind, steps in TEMPLATES:
        if name not in PLAN_WEIGHTS:
            continue
        template = CarePlanTemplate.objects.filter(clinic=clinic, name=name).first()
        if template is None:
            template = template_create(
                clinic=clinic, name=name, steps=steps, trigger=Trigger.MANUAL
            )
        template.refresh_from_db()
        found[name] = template
    return found


def _patients(clinic):
    """The clinic's patients in id order, streamed (a server-side cursor: 1M rows)."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT id, name, assigned_doctor_id, assigned_assistant_id, stage, "
            f"consent_to_contact, external_userid, created_at FROM {Patient._meta.db_table} "
            "WHERE clinic_id = %s ORDER BY id",
            [clinic.pk],
        )
        while rows := cursor.fetchmany(10_000):
            yield from rows


def generate_followups(*, clinic, seed=1, due_at_nine=0, now=None) -> FollowupStats:
    """COPY plans, tasks and deliveries for the clinic's patients (see the module docstring)."""
    begin_bulk_load()
    rng = random.Random(seed * 7919 + 17)  # independent of the patients' stream
    now = now or timezone.now()
    today = clock.local_today(now)
    templates = _templates(clinic)
    names, weights = list(PLAN_WEIGHTS), list(PLAN_WEIGHTS.values())
    userids = dict(Membership.objects.filter(clinic=clinic).values_list("user_id", "wecom_userid"))
    ids = Ids(CarePlan, FollowUpTask, Delivery)
    stats = FollowupStats()
    plans = Copier(CarePlan, PLAN_COLUMNS)
    tasks = Copier(FollowUpTask, TASK_COLUMNS)
    deliveries = Copier(Delivery, DELIVERY_COLUMNS)

    def message(text, row, day):
        _pid, name, doctor, *_rest = row
        values = {
            "姓名": name,
            "诊所": clinic.name,
            "复诊日期": f"{day.month}月{day.day}日",
            "医生": userids.get(doctor, ""),
        }
        # The composer's placeholders (templates are saved with them), filled in bulk.
        return VARIABLE_RE.sub(lambda m: values.get(LEGACY_NAMES.get(m[1], m[1]), m[0]), text)

    def reachable(row):
        return row[5] and row[4] != Stage.CHURNED and row[6]

    def delivery(task_id, row, body, due, sender):
        """The outbox row of a reminder that was due; old rows are settled, recent may not be."""
        delivery_id = ids.next(Delivery)
        status, attempts, error, sent_at = DeliveryStatus.SENT, 1, "", due + timedelta(seconds=5)
        if now - due < timedelta(days=2):
            status = rng.choices(
                [DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.PENDING], [90, 5, 5]
            )[0]
        if status != DeliveryStatus.SENT:
            sent_at = None
            attempts = 0 if status == DeliveryStatus.PENDING else rng.randint(1, 3)
            error = "WeCom errcode -1: system busy" if attempts else ""
        deliveries.add(
            [
                delivery_id,
                clinic.pk,
                f"followup:{task_id}:reminder",
                DeliveryChannel.CUSTOMER_MESSAGE,
                row[6],
                sender,
                row[0],
                body,
                json.dumps({"task_id": task_id}),
                status,
                attempts,
                (due + timedelta(minutes=5 * attempts)).isoformat(),
                None,
                error,
                f"msg{delivery_id:012d}" if sent_at else "",
                False,
                due.isoformat(),
                sent_at.isoformat() if sent_at else None,
            ]
        )
        return delivery_id, status

    def task(row, plan_id, index, step, day, created):
        task_id = ids.next(FollowUpTask)
        due = clock.at(day, clock.hhmm(step["window_start"]))
        window_end = clock.at(day, clock.hhmm(step["window_end"]))
        assignee = row[2] if step["role"] == Role.DOCTOR else row[3]
        status, outcome, done_at, reason = TaskStatus.OPEN, "", None, ""
        if window_end < now - timedelta(days=7):
            status = rng.choices(
                [TaskStatus.OPEN, TaskStatus.DONE, TaskStatus.SKIPPED, TaskStatus.CANCELLED],
                [7, 85, 5, 3],
            )[0]
        elif window_end < now:
            status = rng.choice([TaskStatus.OPEN, TaskStatus.DONE])
        if status == TaskStatus.DONE:
            done_at = min(due + timedelta(hours=rng.uniform(0, 30)), now)
            if step["action"] == Action.CALL:
                outcome = rng.choices(DONE_OUTCOMES, DONE_OUTCOME_WEIGHTS)[0]
        elif status == TaskStatus.CANCELLED:
            reason = "患者已转院"
        text = ""
        if step["action"] in PATIENT_ACTIONS and step.get("message"):
            text = message(step["message"], row, day)
        state, delivery_id, result = ReminderState.NONE, None, ""
        if text and due > now:
            state = ReminderState.PENDING
        elif text and not reachable(row):
            state, result = ReminderState.SKIPPED, "skipped"
        elif text:
            delivery_id, sent = delivery(task_id, row, text, due, userids.get(assignee, ""))
            state, result = ReminderState.ENQUEUED, "sent" if sent == DeliveryStatus.SENT else ""
        tasks.add(
            [
                task_id,
                clinic.pk,
                row[0],
                plan_id,
                index,
                step["title"],
                step["action"],
                assignee,
                step["role"],
                due.isoformat(),
                window_end.isoformat(),
                status,
                outcome,
                "",
                reason,
                text,
                state,
                delivery_id,
                result,
                due.isoformat() if due <= now else None,
                done_at.isoformat() if done_at else None,
                assignee if done_at else None,
                created.isoformat(),
            ]
        )
        stats.open_tasks += status == TaskStatus.OPEN
        stats.overdue_tasks += status == TaskStatus.OPEN and window_end < now
        return status

    eligible = []
    for row in _patients(clinic):
        if reachable(row) and len(eligible) < due_at_nine:
            eligible.append(row)
        if rng.random() >= PLAN_SHARE:
            continue
        template = templates[rng.choices(names, weights)[0]]
        created_day = clock.local(row[7]).date()
        first = max(created_day, today - timedelta(days=365))
        anchor = first + timedelta(days=rng.randint(0, (today - first).days + 7))
        plan_id = ids.next(CarePlan)
        started = max(row[7], clock.at(anchor, time(8)) - timedelta(days=1))
        started = min(started, now)
        statuses = [
            task(row, plan_id, index, step, anchor + timedelta(days=step["offset_days"]), started)
            for index, step in enumerate(template.current_version.steps)
        ]
        active = TaskStatus.OPEN in statuses
        plans.add(
            [
                plan_id,
                clinic.pk,
                row[0],
                template.pk,
                template.current_version_id,
                anchor.isoformat(),
                PlanStatus.ACTIVE if active else PlanStatus.FINISHED,
                "",
                row[3],
                None,
                started.isoformat(),
                None if active else now.isoformat(),
            ]
        )

    # The morning batch: open re-exam reminders due at 09:00 tomorrow, for reachable patients
    # (cycled when there are fewer of them than tasks), so a due scan at 09:00 enqueues all.
    nine = clock.at(today + timedelta(days=1), time(9))
    step = {"title": "复查提醒", "action": Action.RE_EXAM, "role": Role.ASSISTANT}
    step |= {"window_start": "09:00", "window_end": "18:00", "message": NINE_MESSAGE}
    for n in range(due_at_nine if eligible else 0):
        task(eligible[n % len(eligible)], None, None, step, nine.date(), now)
    stats.due_at_nine = due_at_nine if eligible else 0

    for copier in (plans, tasks, deliveries):
        copier.flush()
    for model in (CarePlan, FollowUpTask, Delivery):
        reset_sequence(model)
    stats.plans, stats.tasks, stats.deliveries = plans.total, tasks.total, deliveries.total
    return stats
