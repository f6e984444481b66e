"""Bulk actions on a selection of patients: one request, one transaction, the same services
as a single change, so every patient's timeline says what happened to it."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.models import Clinic
from patients import services
from patients.choices import Source, Stage, TouchKind
from patients.fields.services import values_create_many
from patients.models import Patient, PatientTag, StageTransition, TaggedPatient, Touch
from patients.services import _store_phone, name_initials
from patients.timeline import worded

UNCHANGED = object()

# The most patients one bulk request may name: the workbench's selection, and the follow-ups'
# bulk plan start, which follows the same limit.
BULK_MAX_PATIENTS = 500


@transaction.atomic
def patient_bulk_apply(
    *,
    patients: Iterable[Patient],
    actor=None,
    add_tags: Iterable[PatientTag] = (),
    remove_tags: Iterable[PatientTag] = (),
    stage: str | None = None,
    reason: str = "",
    assigned_doctor=UNCHANGED,
) -> int:
    """Apply the given changes to every patient; returns how many patients changed.
    Any error rolls the whole selection back."""
    add_tags, remove_tags = list(add_tags), list(remove_tags)
    changed = 0
    for patient in patients:
        touched = False
        if add_tags or remove_tags:
            added, removed = services.patient_tag(
                patient=patient, add=add_tags, remove=remove_tags, actor=actor
            )
            touched |= bool(added or removed)
        if stage:
            transition = services.patient_set_stage(
                patient=patient, stage=stage, actor=actor, reason=reason
            )
            touched |= transition is not None
        if assigned_doctor is not UNCHANGED and patient.assigned_doctor != assigned_doctor:
            services.patient_update(patient=patient, actor=actor, assigned_doctor=assigned_doctor)
            touched = True
        changed += touched
    return changed


@transaction.atomic
def patient_create_many(*, clinic: Clinic, rows: Iterable[dict], actor=None, at=None) -> int:
    """Create many patients at once (imports of tens of thousands of rows): the same rows as
    `patient_create` — patient, 'created' transition, profile touch, tags and their touch —
    written with bulk inserts. Rows are dicts of PROFILE_FIELDS plus `phone` (E.164, already
    normalised) and `tags`; the caller has checked them (the import's dry run); the database
    constraints still hold."""
    at = at or timezone.now()
    # Translated once per call: tens of thousands of rows share a handful of strings.
    created_reason = _("Created")
    created_summary = {
        value: worded(gettext_noop("Patient record created (%(source)s)"), source=label)
        for value, label in Source.choices
    }
    # Ids rather than objects below: related-object assignment is most of the ORM's cost
    # when tens of thousands of rows are built.
    actor_id = actor.pk if actor is not None else None
    patients, tag_lists, custom_lists = [], [], []
    for row in rows:
        row = dict(row)
        phone, tags = row.pop("phone", ""), row.pop("tags", ())
        custom_lists.append(row.pop("custom_fields", None) or {})
        patient = Patient(
            clinic=clinic, stage=Stage.LEAD, created_at=at, stage_changed_at=at, **row
        )
        patient.name = patient.name.strip()
        patient.name_initials = name_initials(patient.name)
        if phone:
            _store_phone(patient, phone)
        tags = list(tags)
        patient.tag_ids = sorted({t.pk for t in tags})
        patients.append(patient)
        tag_lists.append(tags)
    if not patients:
        return 0
    try:
        with transaction.atomic():
            Patient.objects.bulk_create(patients)
    except IntegrityError as exc:
        raise ValidationError(
            _("Another patient of this clinic has this phone number or WeCom contact.")
        ) from exc
    StageTransition.objects.bulk_create(
        StageTransition(
            clinic_id=clinic.pk,
            patient_id=p.pk,
            from_stage="",
            to_stage=p.stage,
            by_id=actor_id,
            reason=created_reason,
            at=at,
        )
        for p in patients
    )
    touches, tagged = [], []
    for patient, tags in zip(patients, tag_lists, strict=True):
        touches.append(
            Touch(
                clinic_id=clinic.pk,
                patient_id=patient.pk,
                kind=TouchKind.PROFILE,
                actor_id=actor_id,
                summary=created_summary[patient.source],
                payload={
                    "stage": patient.stage,
                    "source": patient.source,
                    "wording": created_summary[patient.source].stored,
                },
                occurred_at=at,
            )
        )
        if tags:
            tag_summary = worded(
                gettext_noop("Tags: %(changes)s"), changes=" ".join(f"+{t.name}" for t in tags)
            )
            tagged += [TaggedPatient(content_object_id=patient.pk, tag_id=t.pk) for t in tags]
            touches.append(
                Touch(
                    clinic_id=clinic.pk,
                    patient_id=patient.pk,
                    kind=TouchKind.TAG_CHANGE,
                    actor_id=actor_id,
                    summary=tag_summary,
                    payload={
                        "added": [{"id": t.pk, "name": t.name} for t in tags],
                        "removed": [],
                        "wording": tag_summary.stored,
                    },
                    occurred_at=at,
                )
            )
    Touch.objects.bulk_create(touches)
    TaggedPatient.objects.bulk_create(tagged)
    # The clinic's own fields (the import's 手术日期 column …), already clean.
    custom_rows = [(p.pk, c) for p, c in zip(patients, custom_lists, strict=True) if c]
    if custom_rows:
        values_create_many(clinic_id=clinic.pk, rows=custom_rows)
    return len(patients)
