"""Calling a patient from a follow-up task, and what an unanswered call or an agreed callback
does to the task.

- 拨打 (call_reveal): the full number for this one call, to whoever may call
  (Membership.can_call) a patient they may see (the task's scope: a nurse's wards). The task is
  the reason, written to the audit log (AuditAction.CALL_REVEAL). Lists and exports stay masked.
- 未联系上 (not_reached_record): the task stays open and its due time moves to the next
  attempt, FollowUpSettings.call_retry_hours later in staff hours; the last of
  FollowUpSettings.call_attempts ends it as unreachable (漏访). Every attempt is on the timeline.
- 约定回电 (callback_task_create): a call task at the agreed time for the same person.
"""

from datetime import datetime, timedelta

from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.audit import audit_record
from crm.models import AuditAction, Role
from followups import clock
from followups.models import Action, FollowUpSettings, FollowUpTask, Outcome, TaskStatus
from patients.choices import TouchKind
from patients.phones import national
from patients.timeline import touch_record

# A callback is on time within this long of the agreed moment (its window).
CALLBACK_WINDOW = timedelta(hours=1)
# How far ahead a callback may be agreed.
CALLBACK_MAX_DAYS = 90


def followup_settings(clinic_id: int) -> FollowUpSettings:
    """The clinic's follow-up settings; the defaults (not saved: a read never writes) until an
    admin first changes them (followup_settings_update)."""
    settings = FollowUpSettings.objects.filter(clinic_id=clinic_id).first()
    return settings if settings is not None else FollowUpSettings(clinic_id=clinic_id)


def followup_settings_update(
    *, clinic_id: int, call_attempts: int | None = None, call_retry_hours: int | None = None
) -> FollowUpSettings:
    """Change the clinic's call attempts (1–10) and hours between them (1–72); a value out of
    range changes nothing."""
    errors = {}
    if call_attempts is not None and not 1 <= call_attempts <= 10:
        errors["call_attempts"] = [_("Call attempts are between 1 and 10.")]
    if call_retry_hours is not None and not 1 <= call_retry_hours <= 72:
        errors["call_retry_hours"] = [_("The hours between attempts are between 1 and 72.")]
    if errors:
        raise ValidationError(errors)
    settings, _created = FollowUpSettings.objects.get_or_create(clinic_id=clinic_id)
    if call_attempts is not None:
        settings.call_attempts = call_attempts
    if call_retry_hours is not None:
        settings.call_retry_hours = call_retry_hours
    settings.save()
    return settings


def call_reveal(*, task: FollowUpTask, membership, ip_address: str | None = None) -> dict:
    """The number to dial for `task`, logged with the task as its reason. The caller has
    already found the task in the member's scope (404 otherwise)."""
    if not membership.can_call:
        raise PermissionDenied(_("Your role does not make calls to patients."))
    if task.status != TaskStatus.OPEN:
        raise ValidationError(_("This task is already closed: there is nothing to call for."))
    phone = task.patient.phone
    if not phone:
        raise ValidationError(_("This patient has no phone number."))
    audit_record(
        clinic_id=task.clinic_id,
        user=membership.user,
        action=AuditAction.CALL_REVEAL,
        object_type="patient",
        object_id=str(task.patient_id),
        detail={"task_id": task.pk, "reason": "followup_task", "task": task.title},
        ip_address=ip_address,
    )
    return {"phone": national(phone), "tel": f"tel:{phone}"}


def callback_at_clean(value, *, now: datetime) -> datetime:
    """The agreed callback time: given, in the future, within CALLBACK_MAX_DAYS."""
    if value is None or value == "":
        raise ValidationError({"callback_at": [_("Enter the agreed time for the callback.")]})
    if not isinstance(value, datetime):
        raise ValidationError({"callback_at": [_("Enter the callback time as date and time.")]})
    if timezone.is_naive(value):
        value = value.replace(tzinfo=clock.clinic_tz())
    if value <= now:
        raise ValidationError(
            {"callback_at": [_("The callback time has already passed: choose a later time.")]}
        )
    if value > now + timedelta(days=CALLBACK_MAX_DAYS):
        raise ValidationError({"callback_at": [_("A callback is agreed at most 90 days ahead.")]})
    return value


def not_reached_record(*, task: FollowUpTask, by, notes: str, now: datetime) -> None:
    """One unanswered call on a locked, open task: the next attempt, or unreachable (漏访)."""
    settings = followup_settings(task.clinic_id)
    attempt = task.attempts + 1
    payload = {
        "task_id": task.pk,
        "outcome": Outcome.NOT_REACHED,
        "plan_id": task.plan_id,
        "attempt": attempt,
        "attempts": settings.call_attempts,
    }
    numbers = {"task": task.title, "attempt": attempt, "of": settings.call_attempts}
    if attempt >= settings.call_attempts:
        FollowUpTask.objects.filter(pk=task.pk).update(
            status=TaskStatus.UNREACHABLE,
            outcome=Outcome.NOT_REACHED,
            attempts=attempt,
            notes=notes[:2000],
            done_at=now,
            done_by=by,
        )
        summary = (
            _("Follow-up %(task)s: not reached (attempt %(attempt)s of %(of)s), unreachable")
            % numbers
        )
        payload["event"] = "unreachable"
    else:
        due_at = clock.add_staff_hours(now, settings.call_retry_hours)
        # The window keeps its length from the new due time, at least to the end of that day's
        # staff hours, so the next attempt is not overdue the moment it is due.
        length = max(task.window_end - task.due_at, timedelta(0))
        staff_end = clock.hhmm(django_settings.FOLLOWUPS_STAFF_HOURS[1])
        day_end = clock.at(clock.local(due_at).date(), staff_end)
        FollowUpTask.objects.filter(pk=task.pk).update(
            attempts=attempt,
            notes=notes[:2000],
            due_at=due_at,
            window_end=max(due_at + length, day_end),
            staff_reminded_at=None,  # the next attempt is announced in a digest again
        )
        numbers["next"] = f"{clock.local(due_at):%m-%d %H:%M}"
        summary = (
            _(
                "Follow-up %(task)s: not reached (attempt %(attempt)s of %(of)s), "
                "next attempt at %(next)s"
            )
            % numbers
        )
        payload.update(event="not_reached", next_attempt_at=due_at.isoformat())
    touch_record(
        patient=task.patient,
        kind=TouchKind.FOLLOWUP,
        actor=by,
        summary=summary + (f" · {notes}" if notes else ""),
        payload=payload,
    )


def callback_task_create(*, task: FollowUpTask, by, at: datetime, notes: str) -> FollowUpTask:
    """The callback agreed on `task`'s call: a call task at `at` for the same person (the
    task's assignee; for a pool task, the one who made the call)."""
    assignee_id = task.assignee_id or (by.pk if by is not None else None)
    return FollowUpTask.objects.create(
        clinic_id=task.clinic_id,
        patient_id=task.patient_id,
        # A callback agreed on a callback keeps its title (no 约定回电：约定回电：…).
        title=task.title
        if task.callback_of_id
        else (_("Call back: %(task)s") % {"task": task.title})[:200],
        action=Action.CALL,
        assignee_id=assignee_id,
        role=task.role or Role.ASSISTANT,
        due_at=at,
        window_end=at + CALLBACK_WINDOW,
        notes=notes[:2000],
        callback_of=task,
    )
