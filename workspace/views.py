"""The pages that compose the apps: the workbench (everyone's patient list, with the
follow-ups' plan start) and the patient page (with the follow-ups, appointment, referral and
message panels of followups and content). They sit above every app they include, so includes
and imports point down. The lists and panels fill themselves from the /api/ endpoints."""

from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from crm.models import Role
from crm.selectors import staff_names
from crm.tenancy import clinic_member_required, get_for_clinic
from patients import privacy, selectors
from patients.action_serializers import CALL_OUTCOMES, NOTE_MAX_LENGTH
from patients.caregivers import caregivers_of
from patients.choices import (
    CaregiverRelation,
    CaregiverReminder,
    Source,
    Stage,
    TouchChannel,
    TouchKind,
)
from patients.editing import can_merge_patients
from patients.fields.services import clinic_fields, value_text, values_of
from patients.models import Patient, Visit
from patients.views import clinic_tag_groups, doctor_choices, script_labels

ORDERINGS = [
    ("-created_at", _("Newest first")),
    ("created_at", _("Oldest first")),
    ("-last_visit_date", _("Most recent visit")),
    ("last_visit_date", _("Longest since a visit")),
    ("name", _("Name")),
    ("-stage_changed_at", _("Stage changed recently")),
]

# The workbench is everyone's patient list; its title says whose list it is.
WORKBENCH_TITLES = {
    Role.ADMIN: _("All patients"),
    Role.ASSISTANT: _("Assistant's workbench"),
    Role.NURSE: _("My wards' patients"),
    Role.DOCTOR: _("Patients of the clinic"),
    Role.OPERATIONS: _("Patients of the clinic"),
}


def _field_filter(text: str) -> dict:
    """The workbench's field filter from its URL (`<id>:<value>` or `<id>:<from>..<to>`)."""
    head, _sep, expr = text.partition(":")
    if not head.isdigit():
        return {}
    low, _sep, high = expr.partition("..")
    return {"id": int(head), "low": low, "high": high}


@clinic_member_required
def workbench(request):
    clinic = request.clinic
    selected_tags = {
        int(v) for raw in request.GET.getlist("tag") for v in raw.split(",") if v.isdigit()
    }
    return render(
        request,
        "workspace/workbench.html",
        {
            "page_title": WORKBENCH_TITLES[request.membership.role],
            "stages": Stage.choices,
            "sources": Source.choices,
            "tag_groups": clinic_tag_groups(clinic),
            "doctors": doctor_choices(clinic),
            "orderings": ORDERINGS,
            "q": request.GET,
            "selected_tags": selected_tags,
            "no_ward": selectors.has_no_ward(request.membership),
            "patient_fields": clinic_fields(clinic.pk),
            "field_filter": _field_filter(request.GET.get("field", "")),
            # A nurse chooses among her own wards; the others would list nothing.
            "wards": selectors.wards_visible_to(request.membership),
            "script_config": {
                "labels": script_labels(),
                "stages": {k: str(v) for k, v in Stage.choices},
                "sources": {k: str(v) for k, v in Source.choices},
                # Every row's doctor by name, one who has left too (the pickers list active ones).
                "doctors": {str(k): v for k, v in staff_names(clinic.pk).items()},
            },
        },
    )


@clinic_member_required
def patient_detail(request, pk):
    from wechat.groupchats import patient_groups

    clinic = request.clinic
    visible = selectors.patients_visible_to(request.membership)
    # A record merged into another: its page is the survivor's (if this user may see it).
    merged = Patient.objects.filter(clinic=clinic, pk=pk, merged_into__isnull=False).first()
    if merged is not None:
        survivor = merged.merged_into
        while survivor.merged_into_id:
            survivor = survivor.merged_into
        if visible.filter(pk=survivor.pk).exists():
            return redirect("patients:detail", pk=survivor.pk)
    patient = get_for_clinic(selectors.patients_for_list(request.membership), clinic, pk=pk)
    # The referrer is named only to those who may see that patient (a nurse: her wards).
    referrer = (
        visible.filter(pk=patient.referred_by_id).only("pk", "name").first()
        if patient.referred_by_id
        else None
    )
    privacy.patient_opened(patient_id=patient.pk, request=request, via="page")
    current = {t.pk for t in selectors.patient_tags(patient)}
    names = staff_names(clinic.pk)
    visits = selectors.visits_visible_to(request.membership, patient, limit=50)
    fields = clinic_fields(clinic.pk)
    field_values = values_of([patient.pk], fields).get(patient.pk, {}) if fields else {}
    for visit in visits:
        visit.doctor_name = names.get(visit.doctor_id) or getattr(visit.doctor, "username", "")
    return render(
        request,
        "workspace/patient_detail.html",
        {
            "patient": patient,
            "referrer": referrer,
            "custom_fields": [(f, value_text(f, field_values.get(f.pk))) for f in fields],
            "tag_groups": clinic_tag_groups(clinic),
            "current_tags": current,
            "transitions": patient.transitions.select_related("by")[:50],
            "visits": visits,
            "doctor_name": names.get(patient.assigned_doctor_id, ""),
            "stages": Stage.choices,
            "touch_kinds": TouchKind.choices,
            "channels": TouchChannel.choices,
            "call_outcomes": CALL_OUTCOMES,
            "visit_kinds": Visit.Kind.choices,
            "caregivers": caregivers_of(patient),
            "caregiver_relations": CaregiverRelation.choices,
            "caregiver_reminders": CaregiverReminder.choices,
            "doctors": doctor_choices(clinic),
            "can_merge": can_merge_patients(request.membership),
            "wecom_groups": patient_groups(patient=patient),
            # Calls, notes and visits are clinical (README: role × data): not for operations.
            "can_see_clinical": request.membership.can_see_clinical,
            "note_limit": NOTE_MAX_LENGTH,
            "erasure_blocked_until": (
                privacy.erasure_blocked_until(patient)
                if request.membership.can_manage_clinic
                else None
            ),
            "script_config": {
                "patient": patient.pk,
                "labels": script_labels(),
                "currentTags": sorted(current),
            },
        },
    )
