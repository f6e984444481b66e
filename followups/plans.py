"""Plans and their tasks: start, stop, complete, tick. Each writes its timeline entry
in the same transaction (patients.services.touch_record)."""

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from crm.audit import audit_record
from crm.models import AuditAction, Membership, Role
from followups import calls, checklist_values, clock
from followups.models import (
    PATIENT_ACTIONS,
    Action,
    Anchor,
    CarePlan,
    CarePlanTemplate,
    ChecklistTick,
    FollowUpTask,
    Outcome,
    PlanStatus,
    ReminderState,
    TaskStatus,
)
from patients.choices import Stage, TouchKind
from patients.fields.models import PatientFieldValue
from patients.models import Patient
from patients.services import patient_set_stage
from patients.timeline import touch_record, worded
from wechat.composer import text_fill


def render_message(
    text: str, *, patient: Patient, day: date, doctor_names: dict[int, str] | None = None
) -> str:
    """The step's text for `patient` through the composer's fill ({复诊日期} is the step's day;
    {name}-style names of older templates understood). ValidationError naming a variable
    without a value. `doctor_names` (user id → display name in the clinic) spares a query
    per patient when many plans start at once; without it the doctor's membership is read."""
    doctor = patient.assigned_doctor
    doctor_name = (doctor.get_full_name() or doctor.get_username()) if doctor else ""
    if doctor is not None:
        if doctor_names is not None:
            display_name = doctor_names.get(doctor.pk, "")
        else:
            member = Membership.objects.filter(user=doctor).first()
            display_name = member.display_name if member else ""
        doctor_name = display_name or doctor_name
    values = {
        "姓名": patient.name,
        "诊所": patient.clinic.name,
        "复诊日期": f"{day.month}月{day.day}日",
        "医生": doctor_name,
        # A survey step's tracked link is made when the step is sent (followups/step_links.py).
        "链接": "{链接}",
    }
    return text_fill(text=text, values=values, field="message", who=patient.name)


def _assignee_for(patient: Patient, step: dict):
    """A named person, else the patient's own doctor/assistant for that role, else the pool."""
    if step.get("assignee_id"):
        return step["assignee_id"], ""
    role = step["role"]
    if role == Role.DOCTOR and patient.assigned_doctor_id:
        return patient.assigned_doctor_id, role
    if role == Role.ASSISTANT and patient.assigned_assistant_id:
        return patient.assigned_assistant_id, role
    return None, role


def _task_from_step(
    plan: CarePlan, index: int, step: dict, doctor_names: dict[int, str] | None = None
) -> FollowUpTask:
    day = plan.anchor_date + timedelta(days=step["offset_days"])
    assignee_id, role = _assignee_for(plan.patient, step)
    message = ""
    if step["action"] in PATIENT_ACTIONS and step.get("message"):
        try:
            message = render_message(
                step["message"], patient=plan.patient, day=day, doctor_names=doctor_names
            )
        except ValidationError:
            # Kept unfilled: the reminder scan composes it again and, if a value is still
            # missing, skips it with the reason on the timeline (never a literal {医生}).
            message = step["message"]
    return FollowUpTask(
        clinic_id=plan.clinic_id,
        patient=plan.patient,
        plan=plan,
        step_index=index,
        title=step["title"],
        action=step["action"],
        assignee_id=assignee_id,
        role=role,
        due_at=clock.at(day, clock.hhmm(step["window_start"])),
        window_end=clock.at(day, clock.hhmm(step["window_end"])),
        message=message,
        reminder_state=ReminderState.PENDING if message else ReminderState.NONE,
    )


def plan_anchor_date(*, patient: Patient, template: CarePlanTemplate, anchor_date: date | None):
    """Day 0 of a plan of `template` for `patient`: the patient's date of the template's anchor
    field (手术日期) when it counts from one — a ValidationError naming the field and the patient
    when it is empty — else `anchor_date` (today when none is given)."""
    if template.anchor != Anchor.FIELD:
        return anchor_date or clock.local_today()
    field = template.anchor_field
    value = anchor_value(patient=patient, field=field)
    if value is None:
        raise ValidationError(
            {
                "anchor_date": [
                    _(
                        "%(plan)s counts from %(field)s, and %(patient)s has no %(field)s yet: "
                        "enter it on the patient's page first."
                    )
                    % {"plan": template.name, "field": field.name, "patient": patient.name}
                ]
            }
        )
    return value


def anchor_value(*, patient: Patient, field) -> date | None:
    return (
        PatientFieldValue.objects.filter(patient=patient, field=field)
        .values_list("value_date", flat=True)
        .first()
    )


def plan_start(
    *,
    patient: Patient,
    template: CarePlanTemplate,
    anchor_date: date | None = None,
    by=None,
    source_touch_id: int | None = None,
) -> tuple[CarePlan, bool]:
    """Start a plan from the template's current version. The same patient, template and
    anchor date twice is a no-op that returns the existing plan (trigger replays). A template
    that counts from a patient date field starts on the patient's date (`anchor_date` is then
    not asked), and the plan follows that date when it changes (followups/anchors.py)."""
    if template.clinic_id != patient.clinic_id:
        raise ValidationError(_("This plan belongs to another clinic."))
    if template.current_version_id is None:
        raise ValidationError(_("This plan has no steps yet."))
    anchor_date = plan_anchor_date(patient=patient, template=template, anchor_date=anchor_date)
    existing = CarePlan.objects.filter(
        patient=patient, template=template, anchor_date=anchor_date
    ).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            plan = CarePlan.objects.create(
                clinic_id=patient.clinic_id,
                patient=patient,
                template=template,
                version=template.current_version,
                anchor_date=anchor_date,
                anchor_field_id=template.anchor_field_id
                if template.anchor == Anchor.FIELD
                else None,
                started_by=by,
                source_touch_id=source_touch_id,
            )
            FollowUpTask.objects.bulk_create(
                [
                    _task_from_step(plan, index, step)
                    for index, step in enumerate(template.current_version.steps)
                ]
            )
            touch_record(
                patient=patient,
                kind=TouchKind.FOLLOWUP,
                actor=by,
                summary=worded(
                    gettext_noop("Care plan started: %(plan)s (from %(date)s)"),
                    plan=template.name,
                    date=anchor_date.isoformat(),
                ),
                payload={"plan_id": plan.pk, "template_id": template.pk, "event": "plan_started"},
            )
    except IntegrityError:  # a concurrent start of the same plan won
        return CarePlan.objects.get(
            patient=patient, template=template, anchor_date=anchor_date
        ), False
    return plan, True


@transaction.atomic
def plan_stop(*, plan: CarePlan, reason: str, by=None, status: str = PlanStatus.STOPPED) -> int:
    """End a plan: cancel only its open tasks, with the reason. Done tasks stay done."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the plan stops.")]})
    locked = CarePlan.objects.select_for_update().get(pk=plan.pk)
    if locked.status != PlanStatus.ACTIVE:
        return 0
    cancelled = plan.tasks.filter(status=TaskStatus.OPEN).update(
        status=TaskStatus.CANCELLED, cancel_reason=reason[:200]
    )
    CarePlan.objects.filter(pk=plan.pk).update(
        status=status, stop_reason=reason[:200], ended_at=timezone.now()
    )
    plan.status, plan.stop_reason = status, reason[:200]
    touch_record(
        patient=plan.patient,
        kind=TouchKind.FOLLOWUP,
        actor=by,
        summary=worded(
            gettext_noop("Care plan %(plan)s ended: %(reason)s (%(count)s open tasks cancelled)"),
            plan=plan.template.name,
            reason=reason,
            count=cancelled,
        ),
        payload={"plan_id": plan.pk, "event": "plan_stopped", "cancelled": cancelled},
    )
    return cancelled


def plans_stop_for_patient(*, patient: Patient, reason: str) -> int:
    """Churn or withdrawn consent ends all the patient's active plans."""
    stopped = 0
    for plan in CarePlan.objects.filter(patient=patient, status=PlanStatus.ACTIVE).select_related(
        "template", "patient"
    ):
        plan_stop(plan=plan, reason=reason)
        stopped += 1
    return stopped


def _finish_plan_if_done(plan: CarePlan) -> None:
    if plan.status == PlanStatus.ACTIVE and not plan.tasks.filter(status=TaskStatus.OPEN).exists():
        CarePlan.objects.filter(pk=plan.pk, status=PlanStatus.ACTIVE).update(
            status=PlanStatus.FINISHED, stop_reason=_("All steps done"), ended_at=timezone.now()
        )


def task_create(
    *,
    patient: Patient,
    title: str,
    action: str = Action.CALL,
    assignee=None,
    role: str = "",
    due_at=None,
    notes: str = "",
    source_touch_id: int | None = None,
) -> FollowUpTask:
    """A task made by hand, by an outcome (book a revisit, the doctor's queue) or by the
    trigger scan from a timeline entry (`source_touch_id`, unique: see triggers)."""
    if assignee is None and not role:
        raise ValidationError({"assignee": [_("Choose who does it (a role or a person).")]})
    due_at = due_at or timezone.now()
    return FollowUpTask.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        title=title[:200],
        action=action,
        assignee=assignee,
        role=role,
        due_at=due_at,
        window_end=max(due_at, clock.at(clock.local(due_at).date(), clock.hhmm("18:00"))),
        notes=notes,
        source_touch_id=source_touch_id,
    )


@transaction.atomic
def followup_complete(
    *, task: FollowUpTask, by, outcome: str = "", notes: str = "", callback_at=None
) -> FollowUpTask:
    """Record the outcome of a task and write it on the patient's timeline.

    "needs revisit" moves the patient to booked and gives the assistant a call to book
    the day; "escalate" puts a task in the queue of the patient's doctor. "not reached" keeps
    the task open for the next attempt, or ends it unreachable after the last (calls); a
    "callback" is done (reached) and makes a call task at `callback_at` (calls).
    """
    locked = (
        FollowUpTask.objects.select_for_update(of=("self",))
        .select_related("patient", "plan")
        .get(pk=task.pk)
    )
    if locked.status != TaskStatus.OPEN:
        raise ValidationError(_("This task is already closed."))
    if outcome and outcome not in Outcome.values:
        raise ValidationError({"outcome": [_("Unknown outcome.")]})
    if not outcome and locked.action != Action.CHECKLIST:
        raise ValidationError({"outcome": [_("Choose the outcome.")]})
    now = timezone.now()
    if outcome == Outcome.NOT_REACHED:
        calls.not_reached_record(task=locked, by=by, notes=notes, now=now)
        if locked.plan_id:
            _finish_plan_if_done(locked.plan)
        locked.refresh_from_db()
        return locked
    if outcome == Outcome.CALLBACK:
        callback_at = calls.callback_at_clean(callback_at, now=now)
    FollowUpTask.objects.filter(pk=locked.pk).update(
        status=TaskStatus.DONE, outcome=outcome, notes=notes[:2000], done_at=now, done_by=by
    )
    patient = locked.patient
    label = Outcome(outcome).label if outcome else gettext_lazy("done")
    if outcome == Outcome.CALLBACK:
        label = worded(
            gettext_noop("%(outcome)s %(at)s"),
            outcome=label,
            at=f"{clock.local(callback_at):%m-%d %H:%M}",
        )
    summary = worded(
        gettext_noop("Follow-up %(task)s: %(outcome)s"), task=locked.title, outcome=label
    )
    if notes:
        summary = worded(gettext_noop("%(entry)s · %(notes)s"), entry=summary, notes=notes)
    touch_record(
        patient=patient,
        kind=TouchKind.FOLLOWUP,
        actor=by,
        summary=summary,
        payload={"task_id": locked.pk, "outcome": outcome, "plan_id": locked.plan_id}
        | ({"callback_at": callback_at.isoformat()} if outcome == Outcome.CALLBACK else {}),
    )
    if outcome == Outcome.CALLBACK:
        calls.callback_task_create(task=locked, by=by, at=callback_at, notes=notes)
    elif outcome == Outcome.NEEDS_REVISIT:
        if patient.stage not in (Stage.BOOKED, Stage.CHURNED):
            patient_set_stage(
                patient=patient,
                stage=Stage.BOOKED,
                actor=by,
                reason=_("Follow-up: needs a revisit"),
            )
        task_create(
            patient=patient,
            title=_("Book the revisit: %(task)s") % {"task": locked.title},
            assignee=patient.assigned_assistant,
            role=Role.ASSISTANT,
            notes=notes,
        )
    elif outcome == Outcome.ESCALATE:
        task_create(
            patient=patient,
            title=_("Doctor review: %(task)s") % {"task": locked.title},
            assignee=patient.assigned_doctor,
            role=Role.DOCTOR,
            notes=notes,
        )
    if locked.action == Action.START_PLAN and locked.plan_id:
        step = locked.plan.version.steps[locked.step_index]
        target = CarePlanTemplate.objects.filter(
            clinic_id=locked.clinic_id, pk=step.get("start_template_id")
        ).first()
        if target is not None:
            plan_start(patient=patient, template=target, anchor_date=clock.local_today(now), by=by)
    if locked.plan_id:
        _finish_plan_if_done(locked.plan)
    locked.refresh_from_db()
    return locked


@transaction.atomic
def checklist_tick(*, task: FollowUpTask, by, value=None) -> ChecklistTick:
    """A nurse ticks one SOP item: the tick (who, when, the value the item asks for) and the
    task done, together. A value missing or out of range saves nothing."""
    if task.action != Action.CHECKLIST:
        raise ValidationError(_("Only checklist items are ticked."))
    spec = checklist_values.spec_for(task)
    cleaned = checklist_values.value_clean(spec, value) if spec else None
    # The value goes on the timeline with the tick, in the task's notes.
    notes = _("Recorded: %(value)s") % {"value": _value_text(cleaned)} if cleaned else ""
    followup_complete(task=task, by=by, notes=notes)
    return ChecklistTick.objects.create(clinic_id=task.clinic_id, task=task, by=by, value=cleaned)


def _value_text(value: dict) -> str:
    return f"{value['label']} {value['text']} {value['unit']}".strip()


@transaction.atomic
def checklist_untick(*, task: FollowUpTask, by, ip_address: str | None = None) -> ChecklistTick:
    """Undo a tick: the item is open again, the tick stays as history (undone by, at), the
    undo is audited and on the timeline. Only the one who ticked, or an admin, undoes it."""
    locked = (
        FollowUpTask.objects.select_for_update(of=("self",))
        .select_related("patient", "plan")
        .get(pk=task.pk)
    )
    tick = ChecklistTick.objects.standing().select_for_update().filter(task=locked).first()
    if tick is None or locked.status != TaskStatus.DONE:
        raise ValidationError(_("This item is not ticked."))
    member = Membership.objects.filter(user=by, clinic_id=locked.clinic_id).first()
    if tick.by_id != getattr(by, "pk", None) and not (member and member.can_manage_clinic):
        raise ValidationError(_("Only the person who ticked it, or an admin, can undo a tick."))
    now = timezone.now()
    ChecklistTick.objects.filter(pk=tick.pk).update(undone_at=now, undone_by=by)
    FollowUpTask.objects.filter(pk=locked.pk).update(
        status=TaskStatus.OPEN, outcome="", done_at=None, done_by=None
    )
    if locked.plan_id and locked.plan.status == PlanStatus.FINISHED:
        # The tick finished the plan: an item open again makes it active again.
        CarePlan.objects.filter(pk=locked.plan_id).update(
            status=PlanStatus.ACTIVE, stop_reason="", ended_at=None
        )
    audit_record(
        clinic_id=locked.clinic_id,
        user=by,
        action=AuditAction.TICK_UNDO,
        object_type="followup_task",
        object_id=str(locked.pk),
        detail={
            "tick_id": tick.pk,
            "ticked_by": tick.by_id,
            "ticked_at": tick.at.isoformat(),
            "value": tick.value,
        },
        ip_address=ip_address,
    )
    touch_record(
        patient=locked.patient,
        kind=TouchKind.FOLLOWUP,
        actor=by,
        summary=(
            worded(
                gettext_noop("Checklist tick undone: %(task)s (%(value)s)"),
                task=locked.title,
                value=_value_text(tick.value),
            )
            if tick.value
            else worded(gettext_noop("Checklist tick undone: %(task)s"), task=locked.title)
        ),
        payload={"task_id": locked.pk, "event": "tick_undone", "tick_id": tick.pk},
    )
    tick.refresh_from_db()
    return tick
