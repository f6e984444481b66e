"""Pages: the workbench, the patient page, the dashboard and the import steps. Pages lay out
the screen; lists, timelines and figures come from the /api/ endpoints (fetch)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_POST

from crm.models import DOCTOR_ROLES, Role
from crm.selectors import staff_choices, staff_names
from crm.tenancy import clinic_member_required, get_for_clinic
from patients import privacy, selectors
from patients.action_serializers import CALL_OUTCOMES, NOTE_MAX_LENGTH
from patients.editing import can_merge_patients
from patients.imports.views import import_report, import_review, import_upload
from patients.models import Patient, Source, Stage, TagGroup, TouchChannel, TouchKind, Visit
from patients.views_edit import patient_edit, patient_merge_page, patient_new

# The import steps and the editing pages live in their own modules; re-exported for
# patients/urls.py.
__all__ = [
    "import_report",
    "import_review",
    "import_upload",
    "patient_edit",
    "patient_merge_page",
    "patient_new",
]

ORDERINGS = [
    ("-created_at", _("Newest first")),
    ("created_at", _("Oldest first")),
    ("-last_visit_date", _("Most recent visit")),
    ("last_visit_date", _("Longest since a visit")),
    ("name", _("Name")),
    ("-stage_changed_at", _("Stage changed recently")),
]

# Strings the pages' scripts show; translated here so the catalogue covers them.
SCRIPT_LABELS = {
    "loading": _("Loading…"),
    "allStages": _("All stages"),
    "empty": _("No patients match these filters."),
    "error": _("Something went wrong. Please try again."),
    "saved": _("Saved."),
    "changed": _("%(changed)s of %(selected)s selected patients changed."),
    "page": _("Page %(page)s of %(pages)s"),
    "selected": _("%(n)s selected"),
    "noTimeline": _("Nothing on the timeline yet."),
    "more": _("Show more"),
    "noSurveys": _("No surveys yet"),
    "notEnough": _("Not enough data"),
    "patients": _("patients"),
    "newPatients": _("New patients"),
    "revisitRate": _("Revisit rate"),
    "reached": pgettext_lazy("journey funnel", "Reached"),
    "now": _("Now at this stage"),
    "monthsSince": _("Months since first visit"),
    "cohort": _("Cohort"),
    "size": _("Patients"),
    "visitsPer": _("Visits per patient"),
    "amountPer": _("Amount per patient (¥)"),
    "lastTouch": _("Last contact"),
    "revisitSub": _("%(revisited)s of %(patients)s first-visit patients"),
    "churnSub": _("%(by_stage)s by stage · %(deleted_wecom)s deleted WeCom"),
    "riskSub": _("no visit or contact for %(days)s days"),
    "referralSub": _("%(referred)s of %(new_patients)s new patients"),
    "responseSub": _("response rate %(rate)s (%(answered)s / %(sent)s)"),
    "never": _("never"),
    "followupsSub": _("%(done)s of %(due)s done"),
    "medianDelay": _("median delay %(hours)s h"),
    "noneDue": _("No follow-ups were due in this period"),
}


# The workbench is everyone's patient list; its title says whose list it is.
WORKBENCH_TITLES = {
    Role.ADMIN: _("All patients"),
    Role.ASSISTANT: _("Assistant's workbench"),
    Role.NURSE: _("My wards' patients"),
    Role.DOCTOR: _("Patients of the clinic"),
    Role.OPERATIONS: _("Patients of the clinic"),
}


def _doctors(clinic):
    """The doctor pickers (filters, bulk assign, forms): the clinic's active doctors."""
    return staff_choices(clinic, roles=DOCTOR_ROLES)


def _tag_groups(clinic):
    return TagGroup.objects.filter(clinic=clinic).prefetch_related("tags")


def _labels():
    return {key: str(value) for key, value in SCRIPT_LABELS.items()}


@clinic_member_required
def workbench(request):
    clinic = request.clinic
    selected_tags = {
        int(v) for raw in request.GET.getlist("tag") for v in raw.split(",") if v.isdigit()
    }
    return render(
        request,
        "patients/workbench.html",
        {
            "page_title": WORKBENCH_TITLES[request.membership.role],
            "stages": Stage.choices,
            "sources": Source.choices,
            "tag_groups": _tag_groups(clinic),
            "doctors": _doctors(clinic),
            "orderings": ORDERINGS,
            "q": request.GET,
            "selected_tags": selected_tags,
            "no_ward": selectors.has_no_ward(request.membership),
            # A nurse chooses among her own wards; the others would list nothing.
            "wards": selectors.wards_visible_to(request.membership),
            "script_config": {
                "labels": _labels(),
                "stages": {k: str(v) for k, v in Stage.choices},
                "sources": {k: str(v) for k, v in Source.choices},
                # Every row's doctor by name, one who has left too (the pickers list active ones).
                "doctors": {str(k): v for k, v in staff_names(clinic.pk).items()},
            },
        },
    )


@clinic_member_required
def patient_detail(request, pk):
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
    for visit in visits:
        visit.doctor_name = names.get(visit.doctor_id) or getattr(visit.doctor, "username", "")
    return render(
        request,
        "patients/patient_detail.html",
        {
            "patient": patient,
            "referrer": referrer,
            "tag_groups": _tag_groups(clinic),
            "current_tags": current,
            "transitions": patient.transitions.select_related("by")[:50],
            "visits": visits,
            "doctor_name": names.get(patient.assigned_doctor_id, ""),
            "stages": Stage.choices,
            "touch_kinds": TouchKind.choices,
            "channels": TouchChannel.choices,
            "call_outcomes": CALL_OUTCOMES,
            "visit_kinds": Visit.Kind.choices,
            "doctors": _doctors(clinic),
            "can_merge": can_merge_patients(request.membership),
            # Calls, notes and visits are clinical (README: role × data): not for operations.
            "can_see_clinical": request.membership.can_see_clinical,
            "note_limit": NOTE_MAX_LENGTH,
            "erasure_blocked_until": (
                privacy.erasure_blocked_until(patient)
                if request.membership.role == Role.ADMIN
                else None
            ),
            "script_config": {
                "patient": patient.pk,
                "labels": _labels(),
                "currentTags": sorted(current),
            },
        },
    )


@require_POST
@clinic_member_required(roles=[Role.ADMIN])
def patient_data_export(request, pk):
    """The patient's data for them (PIPL art. 45), as a ZIP download. Audited."""
    patient = get_for_clinic(
        selectors.patients_visible_to(request.membership), request.clinic, pk=pk
    )
    content = privacy.patient_data_export(patient=patient, by=request.user, request=request)
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="patient-{patient.pk}.zip"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@clinic_member_required(roles=[Role.ADMIN])
def patient_erase(request, pk):
    """Erase the patient's identity (PIPL art. 47), or say why it must wait. Audited."""
    patient = get_for_clinic(
        selectors.patients_visible_to(request.membership), request.clinic, pk=pk
    )
    if request.POST.get("confirm") != "1":
        messages.error(request, _("Tick the box to confirm the erasure."))
    else:
        try:
            privacy.patient_erase(
                patient=patient,
                by=request.user,
                reason=request.POST.get("reason", "")[:200],
                request=request,
            )
            messages.success(request, _("The patient's identity was erased."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return redirect("patients:detail", pk=patient.pk)


# Nurses see only their wards' patients; the figures cover the whole clinic.
@clinic_member_required(roles=[r for r in Role if r != Role.NURSE])
def dashboard(request):
    clinic = request.clinic
    return render(
        request,
        "patients/dashboard.html",
        {
            "doctors": _doctors(clinic),
            "tag_groups": _tag_groups(clinic),
            "sources": Source.choices,
            "q": request.GET,
            "script_config": {
                "labels": _labels(),
                "stages": {k: str(v) for k, v in Stage.choices},
            },
        },
    )
