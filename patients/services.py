"""Writes to patients. Every change to a patient writes its timeline entry (Touch)
in the same transaction; views, the API, tasks and commands all call these."""

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from pypinyin import Style, lazy_pinyin

from crm import crypto
from crm.audit import audit_record
from crm.idempotency import submit_once
from crm.models import AuditAction, Clinic
from patients.choices import Source, Stage, TouchChannel, TouchKind
from patients.editing import patient_editable_fields
from patients.models import Patient, PatientTag, StageTransition, TaggedPatient, Touch, Visit
from patients.phones import PhoneError, mask_phone, normalize_phone
from patients.timeline import (
    touch_record,
    worded,
)

PROFILE_FIELDS = (
    "name",
    "gender",
    "birth_date",
    "source",
    "source_detail",
    "referred_by",
    "assigned_doctor",
    "assigned_assistant",
    "ward",
    "bed_number",
    "consent_to_contact",
    "consent_care_how",
    "consent_marketing",
    "consent_marketing_how",
    "notes",
    "external_userid",
)


# Profile remarks: the page shows this limit and a counter; the service refuses longer text
# rather than cutting it.
NOTES_MAX_LENGTH = 1000


class DuplicatePatient(ValidationError):
    """The phone number (or WeCom contact) already belongs to `existing`, a patient of the
    clinic: nothing was created; pages link to the existing record."""

    def __init__(self, message, *, field: str, existing: Patient):
        super().__init__({field: [message]})
        self.existing = existing


def name_initials(name: str) -> str:
    """张三丰 → 'zsf', for search by pinyin initials."""
    return "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="ignore")).lower()[:50]


def _set_phone(patient: Patient, raw_phone: str) -> None:
    if not raw_phone:
        patient.phone_encrypted = patient.phone_hash = patient.phone_last4 = (
            patient.phone_masked
        ) = ""
        return
    try:
        e164 = normalize_phone(raw_phone)
    except PhoneError as exc:
        raise ValidationError({"phone": [str(exc)]}) from exc
    _store_phone(patient, e164)


def _store_phone(patient: Patient, e164: str) -> None:
    """Encrypted value, lookup hash, last four and mask of a number already in E.164."""
    patient.phone_encrypted = crypto.encrypt(e164)
    patient.phone_hash = crypto.lookup_hash(e164)
    patient.phone_last4 = e164[-4:]
    patient.phone_masked = mask_phone(e164)


def _check_unique(patient: Patient) -> None:
    others = Patient.objects.filter(clinic=patient.clinic).exclude(pk=patient.pk)
    # Every hash key's hash: a row not yet re-hashed after a key rotation is still a duplicate.
    hashes = crypto.lookup_hashes(patient.phone) if patient.phone_hash else []
    if hashes:
        existing = others.filter(phone_hash__in=hashes).first()
        if existing is not None:
            raise DuplicatePatient(
                _("Another patient of this clinic has this phone number."),
                field="phone",
                existing=existing,
            )
    if patient.external_userid:
        existing = others.filter(external_userid=patient.external_userid).first()
        if existing is not None:
            raise DuplicatePatient(
                _("Another patient of this clinic has this WeCom contact."),
                field="external_userid",
                existing=existing,
            )


def _check_same_clinic(patient: Patient) -> None:
    clinic_id = patient.clinic_id
    if patient.referred_by_id and patient.referred_by.clinic_id != clinic_id:
        raise ValidationError(
            {"referred_by": [_("The referrer must be a patient of this clinic.")]}
        )
    if patient.referred_by_id and patient.referred_by_id == patient.pk:
        raise ValidationError({"referred_by": [_("A patient cannot refer themselves.")]})
    if patient.ward_id and patient.ward.clinic_id != clinic_id:
        raise ValidationError({"ward": [_("The ward must be one of this clinic's wards.")]})
    for field in ("assigned_doctor", "assigned_assistant"):
        user = getattr(patient, field)
        if user is not None and not user.memberships.filter(clinic_id=clinic_id).exists():
            raise ValidationError({field: [_("This person is not a member of this clinic.")]})


def _check_values(patient: Patient) -> None:
    """What a form may get wrong, refused with the field named (nothing is cut or guessed)."""
    errors = {}
    if len(patient.name) > 50:
        errors["name"] = [_("A name has at most 50 characters.")]
    if patient.birth_date and patient.birth_date > timezone.localdate():
        errors["birth_date"] = [_("The birth date cannot be in the future.")]
    if len(patient.notes or "") > NOTES_MAX_LENGTH:
        errors["notes"] = [
            _("Notes have at most %(max)s characters (this has %(n)s).")
            % {"max": NOTES_MAX_LENGTH, "n": len(patient.notes)}
        ]
    patient.bed_number = (patient.bed_number or "").strip()
    if len(patient.bed_number) > 20:
        errors["bed_number"] = [_("A bed number has at most 20 characters.")]
    if len(patient.source_detail or "") > 100:
        errors["source_detail"] = [_("The source detail has at most 100 characters.")]
    if errors:
        raise ValidationError(errors)


def _save(patient: Patient) -> None:
    patient.name = (patient.name or "").strip()
    if not patient.name:
        raise ValidationError({"name": [_("Enter the patient's name.")]})
    _check_values(patient)
    patient.name_initials = name_initials(patient.name)
    _check_same_clinic(patient)
    _check_unique(patient)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:  # a concurrent insert won the race
        raise ValidationError(
            _("Another patient of this clinic has this phone number or WeCom contact.")
        ) from exc


@transaction.atomic
def patient_create(
    *,
    clinic: Clinic,
    name: str,
    phone: str = "",
    stage: str = Stage.LEAD,
    tags: Iterable[PatientTag] = (),
    actor=None,
    at=None,
    **profile,
) -> Patient:
    """Create a patient. `at` backdates the record (imports of existing patients)."""
    unknown = set(profile) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown patient fields: {sorted(unknown)}")
    if stage not in Stage.values:
        raise ValidationError({"stage": [_("Unknown journey stage.")]})
    if profile.get("source", Source.WALK_IN) not in Source.values:
        raise ValidationError({"source": [_("Unknown source.")]})
    at = at or timezone.now()
    patient = Patient(
        clinic=clinic, name=name, stage=stage, created_at=at, stage_changed_at=at, **profile
    )
    _set_phone(patient, phone)
    _save(patient)
    StageTransition.objects.create(
        clinic=clinic,
        patient=patient,
        from_stage="",
        to_stage=stage,
        by=actor,
        reason=_("Created"),
        at=at,
    )
    touch_record(
        patient=patient,
        kind=TouchKind.PROFILE,
        actor=actor,
        summary=worded(
            gettext_noop("Patient record created (%(source)s)"),
            source=Source(patient.source).label,
        ),
        payload={"stage": stage, "source": patient.source},
        occurred_at=at,
    )
    if tags:
        patient_tag(patient=patient, add=tags, actor=actor, at=at)
    return patient


def patient_add(
    *, clinic: Clinic, actor=None, form_token: str = "", **fields
) -> tuple[Patient, bool]:
    """A patient added by hand (the new-patient page, the API): `patient_create` once per form
    token, so a double click or a resent form makes one patient. Returns (patient, created)."""
    return submit_once(
        clinic=clinic,
        kind="patient",
        token=form_token,
        create=lambda: patient_create(clinic=clinic, actor=actor, **fields),
        find=lambda pk: Patient.objects.get(clinic=clinic, pk=pk),
    )


def _check_may_edit(membership, changed: list[str], superuser: bool = False) -> None:
    if superuser and membership is None:
        return
    allowed = patient_editable_fields(membership)
    refused = [f for f in changed if f not in allowed]
    if refused:
        raise ValidationError({f: [_("Your role cannot change this field.")] for f in refused})


# Consent per purpose: (the flag, when it last changed, how).
CONSENTS = (
    ("consent_to_contact", "consent_care_changed_at", "consent_care_how"),
    ("consent_marketing", "consent_marketing_changed_at", "consent_marketing_how"),
)


def _stamp_consent(patient: Patient, changed: list[str], actor) -> None:
    """A consent given or withdrawn records when, and how (the caller's words, e.g. 患者来电要求,
    else who changed it), so the clinic can show it under PIPL art. 29."""
    for flag, at_field, how_field in CONSENTS:
        if flag not in changed:
            continue
        setattr(patient, at_field, timezone.now())
        if how_field not in changed:
            who = (actor.get_full_name() or actor.get_username()) if actor else ""
            how = _("Changed by %(who)s") % {"who": who} if who else _("Changed in CareLoop")
            setattr(patient, how_field, how[:100])


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    actor=None,
    phone: str | None = None,
    membership=None,
    superuser: bool = False,
    **changes,
) -> Patient:
    """Change profile fields (not stage or tags, which have their own services).

    With `membership` (pages, API, admin: a person editing), only the fields that staff member
    may change (patients.editing) may differ from the record; imports and sync pass none. A
    phone change is written to the audit log and the timeline, masked, and the old number no
    longer finds the patient (its hash and last four digits are replaced)."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown patient fields: {sorted(unknown)}")
    if "source" in changes and changes["source"] not in Source.values:
        raise ValidationError({"source": [_("Unknown source.")]})
    changed = [f for f, v in changes.items() if getattr(patient, f) != v]
    for field, value in changes.items():
        setattr(patient, field, value)
    old_masked = patient.phone_masked
    _stamp_consent(patient, changed, actor)
    if phone is not None:
        before = patient.phone_hash
        _set_phone(patient, phone)
        if patient.phone_hash != before:
            changed.append("phone")
    if not changed:
        return patient
    if membership is not None or superuser:
        _check_may_edit(membership, changed, superuser=superuser)
    _save(patient)
    if "phone" in changed:
        _phone_change_record(patient=patient, actor=actor, old_masked=old_masked)
    others = [f for f in changed if f != "phone"]
    if others:
        touch_record(
            patient=patient,
            kind=TouchKind.PROFILE,
            actor=actor,
            summary=worded(
                gettext_noop("Profile updated: %(fields)s"),
                fields=[Patient._meta.get_field(f).verbose_name for f in others],
            ),
            payload={"fields": others},
        )
    return patient


def _phone_change_record(*, patient: Patient, actor, old_masked: str) -> None:
    detail = {"from": old_masked, "to": patient.phone_masked}
    audit_record(
        clinic_id=patient.clinic_id,
        user=actor,
        action=AuditAction.PHONE_CHANGE,
        object_type="patient",
        object_id=str(patient.pk),
        detail=detail,
    )
    touch_record(
        patient=patient,
        kind=TouchKind.PROFILE,
        actor=actor,
        summary=worded(
            gettext_noop("Phone changed: %(from)s → %(to)s"),
            **{"from": old_masked or "—", "to": patient.phone_masked or "—"},
        ),
        payload={"phone_change": detail},
    )


def _stage_wording(from_stage: str, stage: str, reason: str):
    change = worded(
        gettext_noop("Stage: %(from)s → %(to)s"),
        **{"from": Stage(from_stage).label, "to": Stage(stage).label},
    )
    if not reason:
        return change
    return worded(gettext_noop("%(change)s (%(reason)s)"), change=change, reason=reason)


@transaction.atomic
def patient_set_stage(
    *, patient: Patient, stage: str, actor=None, reason: str = "", at=None
) -> StageTransition | None:
    """Move a patient to `stage`; writes the transition and its touch together."""
    if stage not in Stage.values:
        raise ValidationError({"stage": [_("Unknown journey stage.")]})
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    if locked.stage == stage:
        return None
    from_stage = locked.stage
    now = at or timezone.now()
    Patient.objects.filter(pk=patient.pk).update(stage=stage, stage_changed_at=now, updated_at=now)
    patient.stage, patient.stage_changed_at = stage, now
    transition = StageTransition.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        from_stage=from_stage,
        to_stage=stage,
        by=actor,
        reason=reason[:200],
        at=now,
    )
    touch_record(
        patient=patient,
        kind=TouchKind.STAGE_CHANGE,
        actor=actor,
        occurred_at=now,
        summary=_stage_wording(from_stage, stage, reason),
        payload={"from": from_stage, "to": stage, "reason": reason},
    )
    return transition


@transaction.atomic
def patient_tag(
    *,
    patient: Patient,
    add: Iterable[PatientTag] = (),
    remove: Iterable[PatientTag] = (),
    actor=None,
    at=None,
) -> tuple[list[PatientTag], list[PatientTag]]:
    """Add and remove tags. A single-choice group keeps one tag: adding replaces the old one."""
    add, remove = list(add), list(remove)
    for tag in add + remove:
        if tag.clinic_id != patient.clinic_id:
            raise ValidationError(
                {"tags": [_("Tag “%(tag)s” does not belong to this clinic.") % {"tag": tag.name}]}
            )
    single_groups = [t.group_id for t in add if t.group.is_single_choice]
    for group_id in set(single_groups):
        if single_groups.count(group_id) > 1:
            group = next(t.group for t in add if t.group_id == group_id)
            raise ValidationError(
                {"tags": [_("Choose only one tag of “%(group)s”.") % {"group": group.name}]}
            )
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    current = {
        tp.tag_id: tp.tag
        for tp in TaggedPatient.objects.filter(content_object=patient).select_related("tag")
    }
    to_remove = {t.pk: t for t in remove if t.pk in current}
    for tag in add:
        if tag.group.is_single_choice:
            for other in current.values():
                if other.group_id == tag.group_id and other.pk != tag.pk:
                    to_remove[other.pk] = other
    added = [t for t in {t.pk: t for t in add}.values() if t.pk not in current]
    for tag in added:
        to_remove.pop(tag.pk, None)
    if to_remove:
        TaggedPatient.objects.filter(content_object=patient, tag_id__in=list(to_remove)).delete()
    TaggedPatient.objects.bulk_create([TaggedPatient(content_object=patient, tag=t) for t in added])
    removed = list(to_remove.values())
    if added or removed:
        patient.tag_ids = sorted(set(current).difference(to_remove) | {t.pk for t in added})
        Patient.objects.filter(pk=patient.pk).update(tag_ids=patient.tag_ids)
    if added or removed:
        parts = [f"+{t.name}" for t in added] + [f"-{t.name}" for t in removed]
        touch_record(
            patient=patient,
            kind=TouchKind.TAG_CHANGE,
            actor=actor,
            occurred_at=at,
            summary=worded(gettext_noop("Tags: %(changes)s"), changes=" ".join(parts)),
            payload={
                "added": [{"id": t.pk, "name": t.name} for t in added],
                "removed": [{"id": t.pk, "name": t.name} for t in removed],
            },
        )
    return added, removed


@transaction.atomic
def visit_record(
    *,
    patient: Patient,
    visit_date: date,
    kind: str,
    doctor=None,
    amount: Decimal | None = None,
    notes: str = "",
    actor=None,
    at=None,
    his_visit_id: str = "",
) -> Visit:
    if kind not in Visit.Kind.values:
        raise ValidationError({"kind": [_("Unknown visit kind.")]})
    if amount is not None and amount < 0:
        raise ValidationError({"amount": [_("The amount cannot be negative.")]})
    if doctor is not None and not doctor.memberships.filter(clinic_id=patient.clinic_id).exists():
        raise ValidationError({"doctor": [_("This person is not a member of this clinic.")]})
    visit = Visit.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        visit_date=visit_date,
        kind=kind,
        doctor=doctor,
        amount=amount,
        notes=notes,
        his_visit_id=his_visit_id,
    )
    if patient.last_visit_date is None or visit_date > patient.last_visit_date:
        Patient.objects.filter(pk=patient.pk).update(last_visit_date=visit_date)
        patient.last_visit_date = visit_date
    touch_record(
        patient=patient,
        kind=TouchKind.VISIT,
        channel=TouchChannel.IN_PERSON,
        actor=actor,
        occurred_at=at,
        summary=worded(
            gettext_noop("%(kind)s on %(date)s"),
            kind=Visit.Kind(kind).label,
            date=visit_date.isoformat(),
        ),
        payload={
            "visit_id": visit.pk,
            "kind": kind,
            "amount": str(amount) if amount is not None else None,
        },
    )
    return visit


@transaction.atomic
def patient_book_revisit(*, patient: Patient, on: date, actor=None, note: str = "") -> Touch:
    """Book a revisit: the patient moves to 预约 (booked) with the date in the reason. A patient
    already at booked keeps the stage, and the new date goes on the timeline as a note."""
    if on < timezone.localdate():
        raise ValidationError({"on": [_("A revisit cannot be booked in the past.")]})
    reason = _("Revisit booked for %(date)s") % {"date": on.isoformat()}
    if note:
        reason = f"{reason}: {note}"
    transition = patient_set_stage(patient=patient, stage=Stage.BOOKED, actor=actor, reason=reason)
    if transition is not None:
        return patient.touches.order_by("-id").first()
    return touch_record(
        patient=patient, kind=TouchKind.NOTE, actor=actor, summary=reason, payload={"on": str(on)}
    )


def patient_reveal_phone(*, patient: Patient, user, ip_address: str | None = None) -> str:
    """The full number, for a user allowed to see it; every reveal is logged."""
    audit_record(
        clinic_id=patient.clinic_id,
        user=user,
        action=AuditAction.REVEAL_PHONE,
        object_type="patient",
        object_id=str(patient.pk),
        ip_address=ip_address,
    )
    return patient.phone
