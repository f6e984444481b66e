"""Appointments from the hospital system (HIS): idempotent by the HIS's own appointment id.

Each new one is booked through `appointment_book` (its checks, the stage change, the reminder);
one seen before is left as it is. The doctor is named by the name the clinic knows them by
(Membership.name), else the patient's assigned doctor. Problems are reported per row.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Membership, Role
from followups.appointment_models import Appointment
from followups.appointments import appointment_book
from patients.his import _patient_for
from patients.phones import PhoneError


def _messages(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "；".join(m for ms in error.message_dict.values() for m in ms)
    return "；".join(error.messages)


def his_appointments_ingest(*, clinic, rows, actor=None) -> dict:
    result = {"created": 0, "unchanged": 0, "unmatched": [], "errors": []}
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            result["errors"].append({"row": index, "error": _("Each row must be an object.")})
            continue
        his_id = str(row.get("his_appointment_id") or "").strip()
        if not his_id or len(his_id) > 64:
            result["errors"].append(
                {
                    "row": index,
                    "error": _("his_appointment_id is required (at most 64 characters)."),
                }
            )
            continue
        try:
            start = datetime.fromisoformat(str(row.get("start") or ""))
        except ValueError:
            result["errors"].append(
                {"row": index, "error": _("start must be a time like 2026-12-08T09:30.")}
            )
            continue
        if timezone.is_naive(start):
            start = timezone.make_aware(start)
        try:
            patient = _patient_for(clinic, row)
        except PhoneError as exc:
            result["errors"].append({"row": index, "error": str(exc)})
            continue
        if patient is None:
            result["unmatched"].append(
                {
                    "row": index,
                    "his_appointment_id": his_id,
                    "error": _("No patient of this clinic has this phone or HIS patient id."),
                }
            )
            continue
        if Appointment.objects.filter(clinic=clinic, his_appointment_id=his_id).exists():
            result["unchanged"] += 1
            continue
        doctor_name = str(row.get("doctor") or "").strip()
        member = (
            Membership.objects.filter(clinic=clinic, role=Role.DOCTOR, name=doctor_name).first()
            if doctor_name
            else None
        )
        doctor = member.user if member else patient.assigned_doctor
        if doctor is None:
            result["errors"].append(
                {"row": index, "error": _("No doctor of this clinic has this name.")}
            )
            continue
        try:
            with transaction.atomic():
                appointment_book(
                    patient=patient,
                    doctor=doctor,
                    start=start,
                    notes=str(row.get("notes") or "")[:200],
                    by=actor,
                    his_appointment_id=his_id,
                )
        except ValidationError as exc:
            if Appointment.objects.filter(clinic=clinic, his_appointment_id=his_id).exists():
                result["unchanged"] += 1  # booked by a concurrent post of the same row
            else:
                result["errors"].append({"row": index, "error": _messages(exc)})
            continue
        result["created"] += 1
    return result
