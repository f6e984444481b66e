"""Reads of patients, scoped to a clinic."""

from django.db.models import Count, Prefetch

from patients.models import Patient, PatientTag, TaggedPatient


def patients_for_clinic(clinic):
    """The list queryset: what a list row shows, in a constant number of queries."""
    return (
        Patient.objects.filter(clinic=clinic)
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
    """Tags of a patient, using the prefetch of `patients_for_clinic` when present."""
    return [item.tag for item in patient.tagged_items.all()]


def patient_counts_by_stage(queryset) -> dict[str, int]:
    """{stage: number of patients} of a patient queryset, in one grouped query."""
    rows = queryset.order_by().values("stage").annotate(n=Count("pk")).values_list("stage", "n")
    return dict(rows)
