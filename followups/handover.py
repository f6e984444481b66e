"""Handing a leaving staff member's work to a colleague: the patients they are the doctor or
assistant of, their open follow-up tasks (care-plan steps are tasks: the plan's later steps
follow the patient's assignment), their booked appointments, and in WeCom their customers
(wechat.transfers: 在职继承 or 离职继承, asked by a worker after commit, results polled).
Scheduled campaigns have no owner to move: each message's sender is chosen when it is sent,
from the patient's (new) assistant or doctor. crm.services deactivates the login; this module
(above patients and followups) lists and moves the work. Used by the staff page."""

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.audit import audit_record
from crm.models import Membership
from followups.appointment_models import Appointment, AppointmentStatus
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
        "appointments": Appointment.objects.filter(
            clinic_id=clinic_id,
            doctor_id=user_id,
            status=AppointmentStatus.BOOKED,
            start__gte=timezone.now(),
        )
        .select_related("patient")
        .order_by("start", "pk"),
    }


@transaction.atomic
def staff_handover(
    *, membership: Membership, to: Membership, by, wecom_resigned: bool = False, message: str = ""
) -> dict:
    """Give `to` (an active colleague of the same clinic and role) everything `membership`
    leaves: patients as doctor or assistant (each change on the patient's timeline), open
    tasks, booked appointments; and, when both have a WeCom userid, their WeCom customers
    (離职继承 when `wecom_resigned`, else 在职继承 with `message` to each customer), asked
    by a worker after commit. Returns the counts moved."""
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
    moved = {"doctor_patients": 0, "assistant_patients": 0, "open_tasks": 0, "appointments": 0}
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
    moved["appointments"] = Appointment.objects.filter(
        pk__in=work["appointments"].values("pk"), status=AppointmentStatus.BOOKED
    ).update(doctor=to.user)
    moved["wecom"] = _wecom_transfers_enqueue(
        membership=membership, to=to, by=by, resigned=wecom_resigned, message=message
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


def _wecom_transfers_enqueue(*, membership, to, by, resigned: bool, message: str) -> str:
    """After commit, a worker asks WeCom to move the customers (wechat.transfers). Returns
    the transfers' batch ("" when there is nothing to ask WeCom)."""
    from wechat.models import WeComAccount

    account = WeComAccount.objects.filter(clinic_id=membership.clinic_id).first()
    if account is None or not membership.wecom_userid or not to.wecom_userid:
        return ""
    from wechat.tasks import transfers_request_task

    batch = f"{membership.pk}-{to.pk}-{secrets.token_hex(6)}"
    args = (account.pk, batch, membership.wecom_userid, to.wecom_userid, resigned, message,
            getattr(by, "pk", None))  # fmt: skip
    transaction.on_commit(lambda: transfers_request_task.delay(*args), robust=True)
    return batch
