"""Reads of patients, scoped to a clinic."""

from django.db.models import Prefetch

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
