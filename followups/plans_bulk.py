"""One care plan started for a selection of patients at once (the workbench's bulk action).

The same rows as `plans.plan_start` — plan, its tasks, one "plan started" timeline entry —
written with one INSERT per table, so the number of queries does not grow with the selection
(up to patients.bulk.BULK_MAX_PATIENTS). All or nothing: bad input starts no plan at all."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.models import Membership
from followups.models import Anchor, CarePlan, CarePlanTemplate, FollowUpTask
from followups.plans import _task_from_step, plan_start
from patients.bulk import BULK_MAX_PATIENTS
from patients.choices import TouchKind
from patients.models import Touch
from patients.selectors import patients_visible_to
from patients.timeline import touch_build, worded


@dataclass(frozen=True)
class BulkStart:
    started: list[CarePlan]
    # Plans the same patient already had from this template and day: plan_start's no-op.
    already_started: list[CarePlan]


@transaction.atomic
def plan_start_bulk(
    *,
    membership: Membership,
    patient_ids: Iterable[int],
    template: CarePlanTemplate,
    anchor_date: date,
) -> BulkStart:
    """Start `template` from `anchor_date` for every patient, by the staff member of
    `membership`. Patients they may not see (another clinic's, for a nurse another ward's)
    look like ones that do not exist, as on the patients' bulk endpoint."""
    ids = set(patient_ids)
    if not ids:
        raise ValidationError({"patients": [_("Select at least one patient.")]})
    if len(ids) > BULK_MAX_PATIENTS:
        raise ValidationError(
            {
                "patients": [
                    _("Select at most %(limit)s patients at once.") % {"limit": BULK_MAX_PATIENTS}
                ]
            }
        )
    if template.clinic_id != membership.clinic_id:
        raise ValidationError({"template": [_("This plan belongs to another clinic.")]})
    if not template.is_active:
        raise ValidationError({"template": [_("This care plan template is not active.")]})
    if template.current_version_id is None:
        raise ValidationError({"template": [_("This plan has no steps yet.")]})
    # With what the messages need (clinic name, doctor), in one query.
    selection = list(
        patients_visible_to(membership)
        .filter(pk__in=ids)
        .select_related("clinic", "assigned_doctor")
        .order_by("pk")
    )
    if len(selection) != len(ids):
        raise ValidationError({"patients": [_("Some selected patients were not found.")]})
    by = membership.user
    if template.anchor == Anchor.FIELD:
        # Each patient's own date (手术日期): one plan_start each, all or nothing; a patient
        # without the date refuses the whole selection, naming the patient.
        started, already = [], []
        for patient in selection:
            plan, created = plan_start(patient=patient, template=template, by=by)
            (started if created else already).append(plan)
        return BulkStart(started=started, already_started=already)

    existing = {
        plan.patient_id: plan
        for plan in CarePlan.objects.filter(
            template=template, anchor_date=anchor_date, patient_id__in=ids
        )
    }
    version = template.current_version
    plans = [
        CarePlan(
            clinic_id=template.clinic_id,
            patient=patient,
            template=template,
            version=version,
            anchor_date=anchor_date,
            started_by=by,
        )
        for patient in selection
        if patient.pk not in existing
    ]
    if plans:
        try:
            with transaction.atomic():
                CarePlan.objects.bulk_create(plans)
        except IntegrityError as exc:  # a start of the same plan, by a trigger or a person, won
            raise ValidationError(
                _("This plan was started for some of these patients just now: try again.")
            ) from exc
        doctor_names = dict(
            Membership.objects.filter(
                clinic_id=template.clinic_id,
                user_id__in={p.assigned_doctor_id for p in selection if p.assigned_doctor_id},
            )
            .exclude(display_name="")
            .values_list("user_id", "display_name")
        )
        FollowUpTask.objects.bulk_create(
            [
                _task_from_step(plan, index, step, doctor_names)
                for plan in plans
                for index, step in enumerate(version.steps)
            ]
        )
        # The entry plan_start writes, word for word, so the timeline and the trigger scan
        # cannot tell a bulk start from a single one.
        summary = worded(
            gettext_noop("Care plan started: %(plan)s (from %(date)s)"),
            plan=template.name,
            date=anchor_date.isoformat(),
        )
        Touch.objects.bulk_create(
            [
                touch_build(
                    clinic_id=plan.clinic_id,
                    patient_id=plan.patient_id,
                    kind=TouchKind.FOLLOWUP,
                    actor=by,
                    summary=summary,
                    payload={
                        "plan_id": plan.pk,
                        "template_id": template.pk,
                        "event": "plan_started",
                    },
                )
                for plan in plans
            ]
        )
    return BulkStart(
        started=plans,
        already_started=[existing[p.pk] for p in selection if p.pk in existing],
    )
