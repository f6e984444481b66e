"""The due scan: what is due becomes outbox rows (wechat.services.delivery_enqueue), in the
same transaction that marks the tasks as announced. PostgreSQL says what is due and what
was sent; Redis only wakes the workers that send.

- Staff: ONE digest app message per assignee per digest slot (an hour by default). WeCom
  caps app messages to one member at 30 a minute and silently drops the excess, so a
  message per task would lose reminders. A task is announced in one digest only.
- The team: one morning digest a day to the group robot.
- Patients: a re-exam reminder (or other message step) as a customer message, key
  ``followup:{task_id}:reminder``. No consent or churned: skipped, with the reason on the
  timeline. In quiet hours: deferred to the end of quiet hours (send_at), because a
  re-exam reminder should not be lost; the deferral is on the timeline too.
"""

import time
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.models import Membership
from followups import clock
from followups.models import FollowUpTask, ReminderState
from patients.models import Stage, TouchKind
from patients.services import touch_record
from wechat.models import DeliveryChannel, WeComAccount
from wechat.services import delivery_enqueue

BATCH = 5000  # tasks per digest transaction
REMINDER_BATCH = 500  # patient reminders per transaction: each is an outbox row
# The scan stops taking new batches after this long, well inside the task's time limit;
# the next minute's scan carries on (a catch-up after an outage takes a few runs).
SCAN_BUDGET_SECONDS = 50
DIGEST_LINES = 10


def _digest_body(tasks: list[FollowUpTask], now) -> str:
    lines = [_("You have %(count)s follow-ups due:") % {"count": len(tasks)}]
    for task in tasks[:DIGEST_LINES]:
        lines.append(f"· {clock.local(task.due_at):%m-%d %H:%M} {task.patient.name} {task.title}")
    if len(tasks) > DIGEST_LINES:
        lines.append(_("… and %(count)s more.") % {"count": len(tasks) - DIGEST_LINES})
    lines.append(_("Open CareLoop to complete them."))
    return "\n".join(lines)


def staff_digests_enqueue(*, now=None) -> tuple[int, int]:
    """Announce due tasks not yet announced, one digest per assignee.
    Returns (digests made, tasks announced)."""
    now = now or timezone.now()
    if not clock.staff_hours(now):
        return 0, 0  # they go in the first digest of the next working day
    slot = clock.digest_slot(now)
    made = 0
    with transaction.atomic():
        tasks = list(
            FollowUpTask.objects.open()
            .due_before(now)
            .filter(staff_reminded_at__isnull=True)
            .select_related("patient")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("due_at", "id")[:BATCH]
        )
        if not tasks:
            return 0, 0
        members = defaultdict(dict)  # clinic -> user_id -> Membership
        pools = defaultdict(lambda: defaultdict(list))  # clinic -> role -> [Membership]
        for member in Membership.objects.filter(clinic_id__in={t.clinic_id for t in tasks}).exclude(
            wecom_userid=""
        ):
            members[member.clinic_id][member.user_id] = member
            pools[member.clinic_id][member.role].append(member)
        per_member = defaultdict(list)  # (clinic_id, user_id) -> tasks
        unreachable = []
        for task in tasks:
            if task.assignee_id:
                recipients = [members[task.clinic_id].get(task.assignee_id)]
            else:
                recipients = pools[task.clinic_id].get(task.role, [])
            recipients = [m for m in recipients if m is not None]
            if not recipients:
                unreachable.append(task.pk)  # no WeCom id: the queue page shows it
            for member in recipients:
                per_member[(task.clinic_id, member.user_id)].append(task)
        announced = set(unreachable)
        for (clinic_id, user_id), member_tasks in per_member.items():
            member = members[clinic_id][user_id]
            _delivery, created = delivery_enqueue(
                clinic=member.clinic,
                key=f"digest:{user_id}:{slot}",
                channel=DeliveryChannel.APP_MESSAGE,
                recipient=member.wecom_userid,
                body=_digest_body(member_tasks, now),
                payload={"task_ids": [t.pk for t in member_tasks][:500]},
            )
            # Already a digest this slot: these tasks wait for the next slot's digest.
            if created:
                made += 1
                announced.update(t.pk for t in member_tasks)
        FollowUpTask.objects.filter(pk__in=announced).update(staff_reminded_at=now)
    return made, len(announced)


def _skip(task: FollowUpTask, reason: str) -> None:
    FollowUpTask.objects.filter(pk=task.pk).update(
        reminder_state=ReminderState.SKIPPED, reminder_result="skipped"
    )
    touch_record(
        patient=task.patient,
        kind=TouchKind.FOLLOWUP,
        summary=_("Reminder not sent (%(reason)s): %(task)s")
        % {"reason": reason, "task": task.title},
        payload={"task_id": task.pk, "event": "reminder_skipped", "reason": reason},
    )


def _sender_for(task: FollowUpTask, members: dict) -> str:
    for user_id in (task.assignee_id, task.patient.assigned_assistant_id):
        member = members.get(user_id)
        if member and member.wecom_userid:
            return member.wecom_userid
    return ""


def patient_reminders_enqueue(*, now=None) -> dict:
    """Due patient reminders into the outbox (or skipped, or deferred past quiet hours)."""
    now = now or timezone.now()
    counts = {"enqueued": 0, "deferred": 0, "skipped": 0}
    with transaction.atomic():
        tasks = list(
            FollowUpTask.objects.open()
            .filter(reminder_state=ReminderState.PENDING, due_at__lte=now)
            .select_related("patient", "clinic")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("due_at", "id")[:REMINDER_BATCH]
        )
        if not tasks:
            return counts
        user_ids = {t.assignee_id for t in tasks} | {t.patient.assigned_assistant_id for t in tasks}
        members = {m.user_id: m for m in Membership.objects.filter(user_id__in=user_ids - {None})}
        quiet = clock.in_quiet_hours(now)
        send_at = clock.quiet_hours_end(now) if quiet else None
        for task in tasks:
            patient = task.patient
            if not patient.consent_to_contact:
                _skip(task, _("the patient withdrew consent"))
            elif patient.stage == Stage.CHURNED:
                _skip(task, _("the patient has churned"))
            elif not patient.external_userid:
                _skip(task, _("the patient is not a WeCom contact"))
            elif not (sender := _sender_for(task, members)):
                _skip(task, _("nobody with a WeCom account can send it"))
            else:
                delivery, _created = delivery_enqueue(
                    clinic=task.clinic,
                    key=f"followup:{task.pk}:reminder",
                    channel=DeliveryChannel.CUSTOMER_MESSAGE,
                    recipient=patient.external_userid,
                    sender=sender,
                    body=task.message,
                    patient=patient,
                    payload={"task_id": task.pk},
                    send_at=send_at,
                )
                FollowUpTask.objects.filter(pk=task.pk).update(
                    reminder_state=ReminderState.ENQUEUED, reminder_delivery_id=delivery.pk
                )
                if quiet:
                    counts["deferred"] += 1
                    touch_record(
                        patient=patient,
                        kind=TouchKind.FOLLOWUP,
                        summary=_(
                            "Reminder held during quiet hours, to be sent at %(at)s: %(task)s"
                        )
                        % {"at": f"{clock.local(send_at):%m-%d %H:%M}", "task": task.title},
                        payload={"task_id": task.pk, "event": "reminder_deferred"},
                    )
                else:
                    counts["enqueued"] += 1
                continue
            counts["skipped"] += 1
    return counts


def team_digests_enqueue(*, now=None) -> int:
    """The morning digest to each clinic's group robot, once a clinic day (its key)."""
    now = now or timezone.now()
    start = clock.at(clock.local_today(now), clock.hhmm(settings.FOLLOWUPS_MORNING_DIGEST_AT))
    if now < start or not clock.staff_hours(now):
        return 0
    today = clock.local_today(now)
    day_start, day_end = clock.day_bounds(today)
    made = 0
    for account in WeComAccount.objects.exclude(robot_key_encrypted="").select_related("clinic"):
        clinic = account.clinic
        tasks = FollowUpTask.objects.filter(clinic=clinic).open()
        due_today = tasks.due_between(day_start, day_end).count()
        overdue = tasks.overdue(now).filter(due_at__lt=day_start).count()
        if not (due_today or overdue):
            continue
        with transaction.atomic():
            _delivery, created = delivery_enqueue(
                clinic=clinic,
                key=f"team-digest:{clinic.pk}:{today.isoformat()}",
                channel=DeliveryChannel.ROBOT,
                recipient="team",
                body=_(
                    "Good morning. Follow-ups today: %(today)s; overdue from earlier days: %(overdue)s."
                )
                % {"today": due_today, "overdue": overdue},
            )
        made += created
    return made


def due_scan(*, now=None) -> dict:
    """The beat job's work, in order: triggers, then staff, team and patient reminders."""
    from followups.triggers import triggers_scan

    now = now or timezone.now()
    deadline = time.monotonic() + SCAN_BUDGET_SECONDS
    with translation.override(settings.LANGUAGE_CODE):
        triggers = triggers_scan()
        digests = 0
        while time.monotonic() < deadline:
            made, announced = staff_digests_enqueue(now=now)
            digests += made
            if not announced:
                break
        patients = {"enqueued": 0, "deferred": 0, "skipped": 0}
        while time.monotonic() < deadline:
            batch = patient_reminders_enqueue(now=now)
            for key, value in batch.items():
                patients[key] += value
            if not any(batch.values()):
                break
        team = team_digests_enqueue(now=now)
    return {"triggers": triggers, "digests": digests, "team": team, **patients}
