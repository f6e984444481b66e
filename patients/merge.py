"""Merging two records of one person (duplicates from an import and from WeCom).

The survivor keeps its record; its empty fields are filled from the duplicate, and everything
that belongs to the person moves to it: tags, visits, the timeline, referrals, and the rows of
the apps above patients (WeCom arrivals, follow-up tasks and care plans, campaign rows...).
The duplicate is closed with a pointer to the survivor (`merged_into`): no list or page shows
it any more, its page redirects to the survivor. One transaction, audited, within one clinic.

patients cannot import the apps above it, so each of them moves its own rows: the movers are
listed, in order, in the setting `PATIENT_MERGE_MOVERS` (crm/settings.py), each a module with

    merge_counts(patient) -> dict[str, int]        what would move (label -> rows), for the preview
    merge_move(*, survivor, duplicate) -> dict[str, int]   move them, inside the merge's transaction
"""

from functools import cache
from importlib import import_module

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from crm.audit import audit_record, transaction_setting
from crm.models import AuditAction
from patients.choices import TouchKind
from patients.models import Caregiver, Patient, TaggedPatient, Touch, Visit
from patients.timeline import touch_record, worded

# Fields the survivor takes from the duplicate when its own is empty.
FILL_FIELDS = (
    "gender",
    "birth_date",
    "source_detail",
    "referred_by",
    "assigned_doctor",
    "assigned_assistant",
    "ward",
    "bed_number",
    "notes",
)

OWN_COUNTS = {
    "tags": gettext_lazy("Tags"),
    "visits": gettext_lazy("Visits"),
    "timeline": gettext_lazy("Timeline entries"),
    "referrals": gettext_lazy("Referred patients"),
    "caregivers": gettext_lazy("caregivers"),
}


@cache
def _movers():
    return [import_module(path) for path in settings.PATIENT_MERGE_MOVERS]


def _own_counts(patient: Patient) -> dict[str, int]:
    return {
        "tags": TaggedPatient.objects.filter(content_object=patient).count(),
        "visits": Visit.objects.filter(patient=patient).count(),
        "timeline": Touch.objects.filter(patient=patient).count(),
        "referrals": Patient.objects.filter(referred_by=patient).count(),
        "caregivers": Caregiver.objects.filter(patient=patient).count(),
    }


def _check(survivor: Patient, duplicate: Patient) -> None:
    if survivor.clinic_id != duplicate.clinic_id:
        raise ValidationError({"other": [_("Only records of the same clinic can be merged.")]})
    if survivor.pk == duplicate.pk:
        raise ValidationError({"other": [_("A record cannot be merged into itself.")]})
    if survivor.merged_into_id or duplicate.merged_into_id:
        raise ValidationError({"other": [_("This record was already merged into another.")]})


def _fills(survivor: Patient, duplicate: Patient) -> list[str]:
    fields = [
        f
        for f in FILL_FIELDS
        if not getattr(survivor, f)
        and getattr(duplicate, f)
        and not (f == "referred_by" and duplicate.referred_by_id == survivor.pk)
    ]
    if not survivor.phone_hash and duplicate.phone_hash:
        fields.append("phone")
    if not survivor.external_userid and duplicate.external_userid:
        fields.append("external_userid")
    return fields


def patient_merge_preview(*, survivor: Patient, duplicate: Patient) -> dict:
    """What a merge would do: the fields the survivor takes, and how many rows move (label ->
    count, nonzero only). Refuses what the merge would refuse."""
    _check(survivor, duplicate)
    moves = {str(OWN_COUNTS[k]): n for k, n in _own_counts(duplicate).items()}
    for mover in _movers():
        moves.update({str(label): n for label, n in mover.merge_counts(duplicate).items()})
    return {
        "fills": [
            str(Patient._meta.get_field(f).verbose_name) if f != "phone" else _("phone")
            for f in _fills(survivor, duplicate)
        ],
        "moves": {label: n for label, n in moves.items() if n},
    }


def _move_tags(survivor: Patient, duplicate: Patient) -> int:
    """The duplicate's tags join the survivor's; in a single-choice group the survivor's stays.
    Written directly (no tag-change entry): the merge's own entry says what happened, and
    no trigger starts a care plan the duplicate's moved plans already cover."""
    current = {
        tp.tag_id: tp.tag
        for tp in TaggedPatient.objects.filter(content_object=survivor).select_related("tag__group")
    }
    single_groups = {t.group_id for t in current.values() if t.group.is_single_choice}
    added = []
    for tp in TaggedPatient.objects.filter(content_object=duplicate).select_related("tag__group"):
        tag = tp.tag
        if tag.pk in current or (tag.group.is_single_choice and tag.group_id in single_groups):
            continue
        if tag.group.is_single_choice:
            single_groups.add(tag.group_id)
        added.append(tag)
    TaggedPatient.objects.bulk_create(
        [TaggedPatient(content_object=survivor, tag=t) for t in added]
    )
    TaggedPatient.objects.filter(content_object=duplicate).delete()
    survivor.tag_ids = sorted(set(current) | {t.pk for t in added})
    duplicate.tag_ids = []
    return len(added)


@transaction.atomic
def patient_merge(*, survivor: Patient, duplicate: Patient, actor=None) -> dict[str, int]:
    """Merge `duplicate` into `survivor` (see the module's docstring). Returns the rows moved."""
    _check(survivor, duplicate)
    # Both rows locked, in id order (two merges of the same pair cannot deadlock).
    locked = {
        p.pk: p
        for p in Patient.objects.select_for_update()
        .filter(pk__in=[survivor.pk, duplicate.pk])
        .order_by("pk")
    }
    survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
    _check(survivor, duplicate)
    fills = _fills(survivor, duplicate)
    for field in fills:
        if field not in ("phone", "external_userid"):
            setattr(survivor, field, getattr(duplicate, field))
    # A patient who refused contact on either record has refused it.
    consent_changed = survivor.consent_to_contact and not duplicate.consent_to_contact
    survivor.consent_to_contact = survivor.consent_to_contact and duplicate.consent_to_contact
    if duplicate.last_visit_date and (
        not survivor.last_visit_date or duplicate.last_visit_date > survivor.last_visit_date
    ):
        survivor.last_visit_date = duplicate.last_visit_date
    phone = {
        f: getattr(duplicate, f)
        for f in ("phone_encrypted", "phone_hash", "phone_last4", "phone_masked")
    }
    external_userid = duplicate.external_userid

    moved = {"tags": _move_tags(survivor, duplicate)}
    moved["visits"] = Visit.objects.filter(patient=duplicate).update(patient=survivor)
    # The duplicate's caregivers move, but for one the survivor has already (the same phone).
    kept = Caregiver.objects.filter(patient=survivor).exclude(phone_hash="").values("phone_hash")
    Caregiver.objects.filter(patient=duplicate, phone_hash__in=kept).delete()
    moved["caregivers"] = Caregiver.objects.filter(patient=duplicate).update(patient=survivor)
    # The timeline is append-only in the database; a merge may move the duplicate's entries
    # to the survivor and change nothing else of them (crm migration 0009).
    with transaction_setting("careloop.merging", str(duplicate.pk)):
        moved["timeline"] = Touch.objects.filter(patient=duplicate).update(patient=survivor)
    referrals = Patient.objects.filter(referred_by=duplicate)
    moved["referrals"] = referrals.exclude(pk=survivor.pk).update(referred_by=survivor)
    if survivor.referred_by_id == duplicate.pk:
        survivor.referred_by = None
    for mover in _movers():
        moved.update(mover.merge_move(survivor=survivor, duplicate=duplicate))

    # The duplicate gives up its phone and WeCom contact (both unique per clinic) first, so
    # the old number and contact find the survivor only.
    now = timezone.now()
    Patient.objects.filter(pk=duplicate.pk).update(
        phone_encrypted="",
        phone_hash="",
        phone_last4="",
        phone_masked="",
        external_userid="",
        tag_ids=[],
        merged_into=survivor,
        merged_at=now,
        updated_at=now,
    )
    if "phone" in fills:
        for field, value in phone.items():
            setattr(survivor, field, value)
    if "external_userid" in fills:
        survivor.external_userid = external_userid
    survivor.save()

    detail = {
        "survivor": survivor.pk,
        "duplicate": duplicate.pk,
        "duplicate_name": duplicate.name,
        "duplicate_phone": phone["phone_masked"],
        "filled": fills,
        "moved": {k: n for k, n in moved.items() if n},
        "consent_withdrawn": consent_changed,
    }
    audit_record(
        clinic_id=survivor.clinic_id,
        user=actor,
        action=AuditAction.MERGE,
        object_type="patient",
        object_id=str(survivor.pk),
        detail=detail,
    )
    touch_record(
        patient=survivor,
        kind=TouchKind.PROFILE,
        actor=actor,
        summary=worded(
            gettext_noop("Merged the duplicate record #%(id)s (%(name)s) into this one"),
            id=duplicate.pk,
            name=duplicate.name,
        ),
        payload={"merge": detail},
    )
    return moved
