"""Plans that count from a patient's date field (手术日期): when the patient's date changes,
each active plan anchored on the field moves with it. Open tasks move by the difference (their
day, window and patient message's {复诊日期}); done, skipped and cancelled tasks stay where they
were. The move is on the patient's timeline. Called by patients.fields.services through
settings.PATIENT_DATE_FIELD_HANDLERS, in the transaction that changed the date."""

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from followups.models import (
    PATIENT_ACTIONS,
    CarePlan,
    FollowUpTask,
    PlanStatus,
    ReminderState,
    TaskStatus,
)
from patients.choices import TouchKind
from patients.timeline import touch_record, worded


def date_field_changed(*, patient, field, old: date | None, new: date | None, actor=None) -> int:
    """Move the patient's active plans anchored on `field` to `new`; returns how many moved.
    A date cleared leaves the plans where they are (and says so on the timeline)."""
    moved = 0
    plans = (
        CarePlan.objects.select_for_update()
        .filter(patient=patient, anchor_field=field, status=PlanStatus.ACTIVE)
        .select_related("template", "version")
    )
    for plan in plans:
        if new is None:
            touch_record(
                patient=patient,
                kind=TouchKind.FOLLOWUP,
                actor=actor,
                summary=worded(
                    gettext_noop(
                        "Care plan %(plan)s: %(field)s was cleared; its tasks stay on their days"
                    ),
                    plan=plan.template.name,
                    field=field.name,
                ),
                payload={"plan_id": plan.pk, "event": "plan_anchor_cleared"},
            )
            continue
        if plan.anchor_date == new:
            continue
        plan_move(plan=plan, patient=patient, new=new, field=field, actor=actor)
        moved += 1
    return moved


def plan_move(*, plan: CarePlan, patient, new: date, field, actor=None) -> int:
    """Move one plan's day 0 to `new`: its open tasks by the same number of days."""
    from followups.plans import render_message

    delta = new - plan.anchor_date
    old = plan.anchor_date
    tasks = list(plan.tasks.select_for_update().filter(status=TaskStatus.OPEN))
    steps = plan.version.steps
    for task in tasks:
        task.due_at += delta
        task.window_end += delta
        # Announced again on its new day.
        task.staff_reminded_at = None
        step = steps[task.step_index] if task.step_index is not None else {}
        if (
            task.reminder_state == ReminderState.PENDING
            and task.action in PATIENT_ACTIONS
            and step.get("message")
        ):
            try:
                task.message = render_message(
                    step["message"],
                    patient=patient,
                    day=new + timedelta(days=step["offset_days"]),
                )
            except ValidationError:
                task.message = step["message"]
    FollowUpTask.objects.bulk_update(
        tasks, ["due_at", "window_end", "staff_reminded_at", "message"]
    )
    try:
        with transaction.atomic():
            CarePlan.objects.filter(pk=plan.pk).update(anchor_date=new)
    except IntegrityError:
        raise ValidationError(
            {
                f"field_{field.pk}": [
                    _("The patient already has %(plan)s from %(date)s.")
                    % {"plan": plan.template.name, "date": new.isoformat()}
                ]
            }
        ) from None
    plan.anchor_date = new
    touch_record(
        patient=patient,
        kind=TouchKind.FOLLOWUP,
        actor=actor,
        summary=worded(
            gettext_noop(
                "Care plan %(plan)s moved with %(field)s: %(from)s → %(to)s "
                "(%(count)s open tasks moved)"
            ),
            plan=plan.template.name,
            field=field.name,
            **{"from": old.isoformat(), "to": new.isoformat()},
            count=len(tasks),
        ),
        payload={
            "plan_id": plan.pk,
            "event": "plan_moved",
            "from": old.isoformat(),
            "to": new.isoformat(),
            "moved_tasks": [t.pk for t in tasks],
        },
    )
    return len(tasks)
