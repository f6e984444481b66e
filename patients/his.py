"""Visits from the hospital system (HIS): idempotent by the HIS's own visit id, for one clinic.

A row names its patient by phone (matched through the encrypted phone's lookup hash) or by the
HIS patient id. A new visit goes through `visit_record`, so last-visit dates, the timeline and the
follow-up triggers run exactly as for a visit recorded by hand; a visit id seen before updates
the row's notes and amount only, and starts nothing again. Unmatched or bad rows are reported
per row, in the user's language, never raised.
"""

from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from crm.crypto import lookup_hashes
from patients.models import Patient, Visit
from patients.phones import PhoneError, normalize_phone
from patients.services import visit_record

MAX_ROWS = 500


def _patient_for(clinic, row) -> Patient | None:
    live = Patient.objects.filter(clinic=clinic, merged_into__isnull=True)
    his_patient_id = str(row.get("his_patient_id") or "").strip()
    if his_patient_id:
        patient = live.filter(his_patient_id=his_patient_id).first()
        if patient is not None:
            return patient
    phone = str(row.get("phone") or "").strip()
    if phone:
        patient = live.filter(phone_hash__in=lookup_hashes(normalize_phone(phone))).first()
        if patient is not None and his_patient_id and not patient.his_patient_id:
            Patient.objects.filter(pk=patient.pk).update(his_patient_id=his_patient_id)
        return patient
    return None


def _parse(row) -> dict:
    if not isinstance(row, dict):
        raise ValueError(_("Each row must be an object."))
    his_visit_id = str(row.get("his_visit_id") or "").strip()
    if not his_visit_id or len(his_visit_id) > 64:
        raise ValueError(_("his_visit_id is required (at most 64 characters)."))
    try:
        visit_date = date.fromisoformat(str(row.get("visit_date") or ""))
    except ValueError as exc:
        raise ValueError(_("visit_date must be a date like 2026-12-08.")) from exc
    kind = str(row.get("kind") or Visit.Kind.REVISIT)
    if kind not in Visit.Kind.values:
        raise ValueError(_("kind must be one of: %(kinds)s.") % {"kinds": ", ".join(Visit.Kind)})
    amount = row.get("amount")
    if amount not in (None, ""):
        try:
            amount = Decimal(str(amount))
        except InvalidOperation as exc:
            raise ValueError(_("amount must be a number.")) from exc
        if not amount.is_finite() or amount < 0 or amount >= Decimal("1e8"):
            raise ValueError(_("amount must be a number between 0 and 99999999."))
        amount = amount.quantize(Decimal("0.01"))
    else:
        amount = None
    notes = str(row.get("notes") or "")[:500]
    return {
        "his_visit_id": his_visit_id,
        "visit_date": visit_date,
        "kind": kind,
        "amount": amount,
        "notes": notes,
    }


def his_visits_ingest(*, clinic, rows, actor=None) -> dict:
    """Record or update each row's visit; the answer counts them and lists the rows not taken."""
    result = {"created": 0, "updated": 0, "unchanged": 0, "unmatched": [], "errors": []}
    for index, row in enumerate(rows, start=1):
        try:
            data = _parse(row)
            patient = _patient_for(clinic, row)
        except (ValueError, PhoneError) as exc:
            result["errors"].append({"row": index, "error": str(exc)})
            continue
        if patient is None:
            result["unmatched"].append(
                {
                    "row": index,
                    "his_visit_id": data["his_visit_id"],
                    "error": _("No patient of this clinic has this phone or HIS patient id."),
                }
            )
            continue
        with transaction.atomic():
            existing = (
                Visit.objects.select_for_update()
                .filter(clinic=clinic, his_visit_id=data["his_visit_id"])
                .first()
            )
            if existing is None:
                try:
                    with transaction.atomic():
                        visit_record(patient=patient, actor=actor, **data)
                    result["created"] += 1
                    continue
                except IntegrityError:
                    # Posted at the same moment by another request: that one recorded it.
                    existing = Visit.objects.get(clinic=clinic, his_visit_id=data["his_visit_id"])
            changed = existing.notes != data["notes"] or existing.amount != data["amount"]
            if changed:
                existing.notes, existing.amount = data["notes"], data["amount"]
                existing.save(update_fields=["notes", "amount"])
                result["updated"] += 1
            else:
                result["unchanged"] += 1
    return result
