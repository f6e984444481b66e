"""Reads of patients, scoped to a clinic and to what the staff member may see."""

from django.db.models import Count, Prefetch

from crm.models import Role
from patients.models import Patient, PatientTag, TaggedPatient, Ward


def patients_visible_to(membership):
    """The one answer to "which patients may this staff member see": the clinic's patients,
    and for a nurse only those of her wards (none without a ward). Every read of patients or
    their rows (timeline, visits, tasks) for a user starts here."""
    patients = Patient.objects.filter(clinic_id=membership.clinic_id)
    if membership.role == Role.NURSE:
        patients = patients.filter(ward__in=wards_visible_to(membership))
    return patients


def has_no_ward(membership) -> bool:
    """A nurse without a ward sees no patient: pages tell her to ask an admin."""
    return membership.role == Role.NURSE and not wards_visible_to(membership).exists()


def wards_visible_to(membership):
    """The wards whose patients the staff member sees: the clinic's, a nurse's own."""
    wards = Ward.objects.filter(clinic_id=membership.clinic_id)
    return wards.filter(nurses=membership) if membership.role == Role.NURSE else wards


def patients_for_list(membership):
    """The list queryset: what a list row shows, in a constant number of queries."""
    return (
        patients_visible_to(membership)
        .select_related("assigned_doctor", "assigned_assistant")
        .prefetch_related(
            Prefetch(
                "tagged_items",
                queryset=TaggedPatient.objects.select_related("tag__group").order_by(
                    "tag__group__position", "tag__name"
                ),
            )
        )
    )


def tags_for_clinic(clinic):
    return PatientTag.objects.filter(clinic=clinic).select_related("group")


def patient_tags(patient):
    """Tags of a patient, using the prefetch of `patients_for_list` when present."""
    return [item.tag for item in patient.tagged_items.all()]


def patient_counts_by_stage(queryset) -> dict[str, int]:
    """{stage: number of patients} of a patient queryset, in one grouped query."""
    rows = queryset.order_by().values("stage").annotate(n=Count("pk")).values_list("stage", "n")
    return dict(rows)
