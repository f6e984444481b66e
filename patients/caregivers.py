"""Caregivers (家属): the contacts of a patient who receive the reminders the patient (or staff
on the patient's behalf) chose for them.

A caregiver's phone is stored as the patient's is (patients.services._set_phone: encrypted,
hashed, last four, masked); revealing it is audited like the patient's. Which caregiver may
receive what now is the one audience rule (wechat.audience.caregiver_verdicts); the reminders
themselves go through the one outbox, and every one is on the patient's timeline."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.audit import audit_record
from crm.models import AuditAction
from patients.choices import CaregiverRelation, CaregiverReminder, TouchKind
from patients.models import Caregiver, Patient
from patients.services import _set_phone
from patients.timeline import touch_record, worded

FIELDS = ("name", "relation", "external_userid", "reminders")


def caregivers_of(patient: Patient):
    """The patient's caregivers (the patient is already scoped to the member's clinic)."""
    return Caregiver.objects.filter(clinic_id=patient.clinic_id, patient=patient)


def _clean(caregiver: Caregiver) -> None:
    errors = {}
    caregiver.name = (caregiver.name or "").strip()
    if not caregiver.name:
        errors["name"] = [_("Enter the caregiver's name.")]
    elif len(caregiver.name) > 50:
        errors["name"] = [_("A name has at most 50 characters.")]
    if caregiver.relation not in CaregiverRelation.values:
        errors["relation"] = [_("Choose the caregiver's relation to the patient.")]
    reminders = caregiver.reminders
    if not isinstance(reminders, list | tuple) or any(
        r not in CaregiverReminder.values for r in reminders
    ):
        errors["reminders"] = [_("Unknown reminder kind.")]
    else:
        caregiver.reminders = sorted(set(reminders))
    caregiver.external_userid = (caregiver.external_userid or "").strip()
    if len(caregiver.external_userid) > 64:
        errors["external_userid"] = [_("A WeCom external userid has at most 64 characters.")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def caregiver_save(
    *, patient: Patient, actor=None, caregiver: Caregiver | None = None, phone=None, **changes
) -> Caregiver:
    """Add a caregiver to the patient (caregiver None) or change one. `phone` None keeps the
    number, "" removes it. The change is on the patient's timeline (phones masked)."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise TypeError(f"Unknown caregiver fields: {sorted(unknown)}")
    created = caregiver is None
    if created:
        caregiver = Caregiver(clinic_id=patient.clinic_id, patient=patient, reminders=[])
    elif caregiver.patient_id != patient.pk:
        raise ValidationError({"caregiver": [_("This caregiver is not the patient's.")]})
    before = list(caregiver.reminders or [])
    for field, value in changes.items():
        setattr(caregiver, field, value)
    if phone is not None:
        _set_phone(caregiver, phone)
    _clean(caregiver)
    if created or caregiver.reminders != before:
        caregiver.consent_changed_at = timezone.now()
    try:
        with transaction.atomic():
            caregiver.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"phone": [_("The patient already has a caregiver with this phone number.")]}
        ) from exc
    chosen = [CaregiverReminder(r).label for r in caregiver.reminders]
    touch_record(
        patient=patient,
        kind=TouchKind.PROFILE,
        actor=actor,
        summary=worded(
            gettext_noop("Caregiver %(name)s (%(relation)s) added; reminders: %(reminders)s")
            if created
            else gettext_noop(
                "Caregiver %(name)s (%(relation)s) changed; reminders: %(reminders)s"
            ),
            name=caregiver.name,
            relation=CaregiverRelation(caregiver.relation).label,
            reminders=chosen or "—",
        ),
        payload={
            "event": "caregiver_added" if created else "caregiver_changed",
            "caregiver_id": caregiver.pk,
            "reminders": caregiver.reminders,
            "phone": caregiver.phone_masked,
        },
    )
    return caregiver


@transaction.atomic
def caregiver_remove(*, caregiver: Caregiver, actor=None) -> None:
    patient = caregiver.patient
    touch_record(
        patient=patient,
        kind=TouchKind.PROFILE,
        actor=actor,
        summary=worded(
            gettext_noop("Caregiver %(name)s (%(relation)s) removed"),
            name=caregiver.name,
            relation=CaregiverRelation(caregiver.relation).label,
        ),
        payload={"event": "caregiver_removed", "caregiver_id": caregiver.pk},
    )
    caregiver.delete()


def caregiver_reveal_phone(*, caregiver: Caregiver, user, ip_address: str | None = None) -> str:
    """The full number, for a user allowed to see it; every reveal is logged."""
    audit_record(
        clinic_id=caregiver.clinic_id,
        user=user,
        action=AuditAction.REVEAL_PHONE,
        object_type="caregiver",
        object_id=str(caregiver.pk),
        detail={"patient_id": caregiver.patient_id},
        ip_address=ip_address,
    )
    return caregiver.phone
