"""Triggers: read new timeline entries after a cursor kept in the database and start the
plans they call for (tag added, stage entered, visit recorded); stop plans when a patient
churns or withdraws consent; turn a low survey score (content's "service_recovery_needed"
entry) into a call-back task for the assistant, and a deletion that leaves the patient
without a WeCom contact (wechat's churn signal with contacts_left 0) into a win-back task.

No signals and no import of followups from patients: the timeline is the event stream.
The cursor moves only after the plans are created, in the same transaction. Ids are
handed out before a transaction commits, so a slow transaction can commit an entry below
the cursor; each scan therefore re-reads the last LOOKBACK ids, which is harmless because
a plan is unique per patient, template and anchor date, and a recovery task per source entry.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Role
from followups import clock
from followups.models import Action, Anchor, CarePlanTemplate, FollowUpTask, Trigger, TriggerCursor
from followups.plans import plan_start, plans_stop_for_patient, task_create
from patients.choices import Stage, TouchKind
from patients.models import Touch, Visit
from patients.timeline import touch_record

CURSOR_KEY = "touches"
BATCH = 1000
LOOKBACK = 500
TRIGGER_KINDS = [TouchKind.TAG_CHANGE, TouchKind.STAGE_CHANGE, TouchKind.VISIT, TouchKind.PROFILE]
# content/surveys.py writes this follow-up entry after a low satisfaction score.
SERVICE_RECOVERY = "service_recovery_needed"
SCANNED = (
    Q(kind__in=TRIGGER_KINDS)
    | Q(kind=TouchKind.FOLLOWUP, payload__event=SERVICE_RECOVERY)
    # wechat.contacts.contact_lost: the patient's last WeCom contact with the clinic is gone.
    | Q(kind=TouchKind.CHURN_SIGNAL, payload__contacts_left=0)
)


def _templates_by_clinic(clinic_ids):
    templates = {}
    for template in CarePlanTemplate.objects.filter(
        clinic_id__in=clinic_ids, is_active=True, current_version__isnull=False
    ).exclude(trigger=Trigger.MANUAL):
        templates.setdefault(template.clinic_id, []).append(template)
    return templates


def _anchor_date(template: CarePlanTemplate, touch: Touch, visit_dates: dict):
    if touch.kind == TouchKind.VISIT and template.anchor in (Anchor.VISIT, Anchor.TRIGGER):
        visit_date = visit_dates.get(touch.payload.get("visit_id"))
        if visit_date:
            return visit_date
    return clock.local(touch.occurred_at).date()


def _matches(template: CarePlanTemplate, touch: Touch) -> bool:
    # A template reacts to what happens after it exists, not to a clinic's whole history.
    if touch.created_at < template.created_at:
        return False
    payload = touch.payload or {}
    if template.trigger == Trigger.TAG_ADDED and touch.kind == TouchKind.TAG_CHANGE:
        return template.trigger_tag_id in {t.get("id") for t in payload.get("added", [])}
    if template.trigger == Trigger.STAGE_ENTERED and touch.kind == TouchKind.STAGE_CHANGE:
        return payload.get("to") == template.trigger_stage
    if template.trigger == Trigger.VISIT_RECORDED and touch.kind == TouchKind.VISIT:
        return not template.trigger_visit_kind or payload.get("kind") == template.trigger_visit_kind
    return False


def _stop_reason(touch: Touch) -> str:
    payload = touch.payload or {}
    if touch.kind == TouchKind.STAGE_CHANGE and payload.get("to") == Stage.CHURNED:
        return _("Patient churned")
    if (
        touch.kind == TouchKind.PROFILE
        and "consent_to_contact" in payload.get("fields", [])
        and not touch.patient.consent_to_contact
    ):
        return _("Consent withdrawn")
    return ""


def _recovery_due(now):
    """Now during staff hours, else when they next begin: a call-back task made at night
    should not be overdue before anyone could have made the call."""
    start, end = (clock.hhmm(v) for v in settings.FOLLOWUPS_STAFF_HOURS)
    local_now = clock.local(now)
    if local_now.time() < start:
        return clock.at(local_now.date(), start)
    if local_now.time() >= end:
        return clock.at(local_now.date() + timedelta(days=1), start)
    return now


def _service_recovery(touch: Touch) -> int:
    """One call-back task for the patient's assistant (else the clinic's assistants' pool)
    per low-score entry; the unique source entry makes replays and races no-ops."""
    patient, payload = touch.patient, touch.payload or {}
    # No call to a patient who asked not to be contacted; the low score stays on the timeline.
    if not patient.consent_to_contact:
        return 0
    if FollowUpTask.objects.filter(source_touch_id=touch.pk).exists():
        return 0
    title = _("Service recovery: satisfaction score %(score)s/%(scale)s, call the patient back")
    try:
        with transaction.atomic():
            task_create(
                patient=patient,
                title=title % {"score": payload.get("score"), "scale": payload.get("scale")},
                action=Action.CALL,
                assignee=patient.assigned_assistant,
                role=Role.ASSISTANT,
                due_at=_recovery_due(timezone.now()),
                notes=payload.get("comment", ""),
                source_touch_id=touch.pk,
            )
    except IntegrityError:  # a concurrent scan made it first
        return 0
    return 1


def _win_back(touch: Touch) -> int:
    """One call task for the patient's assistant (else the assistants' pool) per deletion
    that left the patient without a WeCom contact of the clinic: find out why and win the
    patient back. Not when the patient has come back meanwhile or refused contact."""
    patient = touch.patient
    if patient.stage != Stage.CHURNED or not patient.consent_to_contact:
        return 0
    if FollowUpTask.objects.filter(source_touch_id=touch.pk).exists():
        return 0
    try:
        with transaction.atomic():
            task_create(
                patient=patient,
                title=_("Win back: the patient is no longer a WeCom contact, call them"),
                action=Action.CALL,
                assignee=patient.assigned_assistant,
                role=Role.ASSISTANT,
                due_at=_recovery_due(timezone.now()),
                notes=touch.summary,
                source_touch_id=touch.pk,
            )
    except IntegrityError:  # a concurrent scan made it first
        return 0
    return 1


def _handle(touch: Touch, templates, visit_dates) -> int:
    started = 0
    reason = _stop_reason(touch)
    if reason:
        plans_stop_for_patient(patient=touch.patient, reason=reason)
        return 0
    patient = touch.patient
    if patient.stage == Stage.CHURNED or not patient.consent_to_contact:
        return 0
    for template in templates.get(touch.clinic_id, ()):
        if _matches(template, touch):
            try:
                _plan, created = plan_start(
                    patient=patient,
                    template=template,
                    anchor_date=_anchor_date(template, touch, visit_dates),
                    source_touch_id=touch.pk,
                )
            except ValidationError as exc:
                # A plan counting from a date field the patient lacks (手术日期): not started,
                # and the timeline says why; entering the date and starting it by hand works.
                touch_record(
                    patient=patient,
                    kind=TouchKind.FOLLOWUP,
                    summary=" ".join(exc.messages)[:500],
                    payload={"event": "plan_not_started", "template_id": template.pk},
                )
                continue
            started += created
    return started


def triggers_scan(*, batch: int = BATCH) -> dict:
    """One pass over new timeline entries. Returns {"read", "started", "recovery_tasks"}."""
    read = started = recovery = 0
    while True:
        with transaction.atomic():
            cursor, _created = TriggerCursor.objects.select_for_update().get_or_create(
                key=CURSOR_KEY
            )
            floor = max(cursor.last_touch_id - LOOKBACK, 0) if read == 0 else cursor.last_touch_id
            touches = list(
                Touch.objects.filter(SCANNED, id__gt=floor)
                .select_related("patient", "patient__clinic")
                .order_by("id")[:batch]
            )
            if not touches:
                return {"read": read, "started": started, "recovery_tasks": recovery}
            templates = _templates_by_clinic({t.clinic_id for t in touches})
            visit_ids = [t.payload.get("visit_id") for t in touches if t.kind == TouchKind.VISIT]
            visit_dates = dict(
                Visit.objects.filter(pk__in=[v for v in visit_ids if v]).values_list(
                    "pk", "visit_date"
                )
            )
            for touch in touches:
                if touch.kind == TouchKind.FOLLOWUP:
                    recovery += _service_recovery(touch)
                elif touch.kind == TouchKind.CHURN_SIGNAL:
                    recovery += _win_back(touch)
                else:
                    started += _handle(touch, templates, visit_dates)
            last = max(touches[-1].pk, cursor.last_touch_id)
            TriggerCursor.objects.filter(key=CURSOR_KEY).update(
                last_touch_id=last, updated_at=timezone.now()
            )
            read += len(touches)
        if len(touches) < batch:
            return {"read": read, "started": started, "recovery_tasks": recovery}
