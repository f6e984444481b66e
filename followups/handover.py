"""Handing a leaving staff member's work to a colleague: the patients they are the doctor or
assistant of, and their open follow-up tasks. crm.services deactivates the login; this module
(above patients and followups) lists and moves the work. Used by the staff page."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.audit import audit_record
from crm.models import Membership
from followups.models import FollowUpTask
from patients.models import Patient
from patients.services import patient_update


def handover_list(membership: Membership) -> dict:
    """What `membership` leaves behind, in their clinic."""
    clinic_id, user_id = membership.clinic_id, membership.user_id
    patients = Patient.objects.filter(clinic_id=clinic_id)
    return {
        "doctor_patients": patients.filter(assigned_doctor_id=user_id).order_by("name", "pk"),
        "assistant_patients": patients.filter(assigned_assistant_id=user_id).order_by("name", "pk"),
        "open_tasks": FollowUpTask.objects.filter(clinic_id=clinic_id, assignee_id=user_id)
        .open()
        .select_related("patient")
        .order_by("due_at", "pk"),
    }


@transaction.atomic
def staff_handover(*, membership: Membership, to: Membership, by) -> dict:
    """Give `to` (an active colleague of the same clinic and role) everything `membership`
    leaves: patients as doctor or assistant (each change on the patient's timeline) and open
    tasks. Returns the counts moved."""
    if to.clinic_id != membership.clinic_id or not to.user.is_active:
        raise ValidationError({"to": [_("Choose an active staff member of this clinic.")]})
    if to.pk == membership.pk:
        raise ValidationError({"to": [_("Choose another staff member.")]})
    if to.role != membership.role:
        raise ValidationError(
            {"to": [_("Hand over to a staff member with the same role (%(role)s).")
                    % {"role": membership.get_role_display()}]}
        )  # fmt: skip
    work = handover_list(membership)
    moved = {"doctor_patients": 0, "assistant_patients": 0, "open_tasks": 0}
    for patient in work["doctor_patients"].select_for_update():
        patient_update(patient=patient, actor=by, assigned_doctor=to.user)
        moved["doctor_patients"] += 1
    for patient in work["assistant_patients"].select_for_update():
        patient_update(patient=patient, actor=by, assigned_assistant=to.user)
        moved["assistant_patients"] += 1
    moved["open_tasks"] = (
        FollowUpTask.objects.filter(pk__in=work["open_tasks"].values("pk"))
        .open()
        .update(assignee=to.user)
    )
    from crm.models import AuditAction

    audit_record(
        clinic_id=membership.clinic_id,
        user=by,
        action=AuditAction.STAFF_CHANGE,
        object_type="membership",
        object_id=str(membership.pk),
        detail={"change": "handover", "to": to.pk, **moved},
    )
    return moved
