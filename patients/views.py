"""Pages: the dashboard, the patient's data export and erasure, and the import and editing steps
(the workbench and the patient page compose other apps' panels: workspace/views.py). Pages lay
out the screen; lists, timelines and figures come from the /api/ endpoints (fetch)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_POST

from crm.models import DOCTOR_ROLES
from crm.selectors import staff_choices
from crm.tenancy import clinic_member_required, get_for_clinic
from patients import privacy, selectors
from patients.choices import Source, Stage
from patients.models import TagGroup

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


def doctor_choices(clinic):
    """The doctor pickers (filters, bulk assign, forms): the clinic's active doctors."""
    return staff_choices(clinic, roles=DOCTOR_ROLES)


def clinic_tag_groups(clinic):
    return TagGroup.objects.filter(clinic=clinic).prefetch_related("tags")


def script_labels():
    return {key: str(value) for key, value in SCRIPT_LABELS.items()}


@require_POST
@clinic_member_required(capability="manage_clinic")
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
@clinic_member_required(capability="manage_clinic")
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
@clinic_member_required(capability="see_clinic_figures")
def dashboard(request):
    clinic = request.clinic
    return render(
        request,
        "patients/dashboard.html",
        {
            "doctors": doctor_choices(clinic),
            "tag_groups": clinic_tag_groups(clinic),
            "sources": Source.choices,
            "q": request.GET,
            "script_config": {
                "labels": script_labels(),
                "stages": {k: str(v) for k, v in Stage.choices},
            },
        },
    )
