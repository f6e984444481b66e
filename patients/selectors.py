"""Reads of patients, scoped to a clinic and to what the staff member may see."""

from django.db.models import Count

from crm.models import Role
from patients.choices import TouchKind
from patients.models import Patient, PatientTag, Ward

# Timeline entries about the patient's care (README: role × data): notes, calls, visits and
# follow-ups. Operations (what marketing needs) reads the others: messages, stages, tags,
# profile, surveys, welcome, churn signals, referrals.
CLINICAL_TOUCH_KINDS = frozenset(
    {TouchKind.NOTE, TouchKind.CALL, TouchKind.VISIT, TouchKind.FOLLOWUP}
)


def patients_visible_to(membership):
    """The one answer to "which patients may this staff member see": the clinic's patients,
    and for a nurse only those of her wards (none without a ward). Every read of patients or
    their rows (timeline, visits, tasks) for a user starts here. Records merged into another
    are closed and not listed."""
    # A record merged into another is closed (patients/merge.py): its page redirects.
    patients = Patient.objects.filter(clinic_id=membership.clinic_id, merged_into__isnull=True)
    if membership.role == Role.NURSE:
        patients = patients.filter(ward__in=wards_visible_to(membership))
    return patients


def touches_visible_to(membership, patient):
    """The patient's timeline as this staff member may read it: without clinical entries for
    roles that may not see them (Membership.can_see_clinical)."""
    touches = patient.touches.all()
    if not membership.can_see_clinical:
        touches = touches.exclude(kind__in=CLINICAL_TOUCH_KINDS)
    return touches


def visits_visible_to(membership, patient, *, limit: int = 200) -> list:
    """The patient's visits, newest first; amounts and notes blanked for roles that may not see
    clinical data."""
    visits = list(patient.visits.select_related("doctor")[:limit])
    if not membership.can_see_clinical:
        for visit in visits:
            visit.amount, visit.notes = None, ""
    return visits


def has_no_ward(membership) -> bool:
    """A nurse without a ward sees no patient: pages tell her to ask an admin."""
    return membership.role == Role.NURSE and not wards_visible_to(membership).exists()


def wards_visible_to(membership):
    """The wards whose patients the staff member sees: the clinic's, a nurse's own."""
    wards = Ward.objects.filter(clinic_id=membership.clinic_id)
    return wards.filter(nurses=membership) if membership.role == Role.NURSE else wards


def patients_for_list(membership):
    """The list queryset. A row's tags come from `Patient.tag_ids` and the clinic's tags
    (`clinic_tags`, one query per response), as the list's tag filter reads them too."""
    return patients_visible_to(membership)


def tags_for_clinic(clinic):
    return PatientTag.objects.filter(clinic=clinic).select_related("group")


TAG_ORDER = ("group__position", "name", "pk")


def clinic_tags(clinic_id) -> dict[int, PatientTag]:
    """The clinic's tags by id, with their groups, in display order (the database's: its
    collation orders the names): what a list needs to show every row's tags from
    `Patient.tag_ids` without a query per page of rows."""
    tags = PatientTag.objects.filter(clinic_id=clinic_id).select_related("group")
    ordered = {}
    for rank, tag in enumerate(tags.order_by(*TAG_ORDER)):
        tag.rank = rank
        ordered[tag.pk] = tag
    return ordered


def patient_tags(patient, tags: dict[int, PatientTag] | None = None) -> list[PatientTag]:
    """A patient's tags in group order, then by name. With `tags` (clinic_tags) from the
    patient's `tag_ids`, where an id of a deleted tag matches nothing; without, one query."""
    if tags is None:
        items = patient.tagged_items.select_related("tag__group")
        return [item.tag for item in items.order_by(*(f"tag__{f}" for f in TAG_ORDER))]
    mine = {tags[tag_id] for tag_id in patient.tag_ids or () if tag_id in tags}
    return sorted(mine, key=lambda tag: tag.rank)


def patient_counts_by_stage(queryset) -> dict[str, int]:
    """{stage: number of patients} of a patient queryset, in one grouped query."""
    rows = queryset.order_by().values("stage").annotate(n=Count("pk")).values_list("stage", "n")
    return dict(rows)
