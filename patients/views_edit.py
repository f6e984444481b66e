"""Pages that change a patient by hand: add one (新建患者), edit the profile (编辑资料), merge
two records of one person (合并重复档案). The forms shape input; the services decide."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.forms import form_add_service_errors
from crm.tenancy import clinic_member_required, get_for_clinic
from patients import selectors, services
from patients.editing import can_merge_patients, patient_editable_fields
from patients.fields.services import field_values_set, values_clean
from patients.forms import MergeSearchForm, PatientForm
from patients.merge import patient_merge, patient_merge_preview


def _duplicate_link(request, error) -> dict | None:
    """The existing patient a refused phone belongs to, if this user may open them."""
    existing = getattr(error, "existing", None)
    if existing is None:
        return None
    visible = selectors.patients_visible_to(request.membership)
    if not visible.filter(pk=existing.pk).exists():
        return {"name": None, "url": None}
    return {"name": existing.name, "url": reverse("patients:detail", args=[existing.pk])}


@clinic_member_required
@require_http_methods(["GET", "POST"])
def patient_new(request):
    form = PatientForm(request.POST or None, membership=request.membership)
    duplicate = None
    if request.method == "POST" and form.is_valid():
        fields = form.service_fields()
        custom = form.custom_values()
        try:
            with transaction.atomic():
                # The clinic's fields first (a required one missing saves nothing).
                values_clean(clinic_id=request.clinic.pk, values=custom, require=True)
                patient, created = services.patient_add(
                    clinic=request.clinic,
                    actor=request.user,
                    form_token=form.cleaned_data["form_token"],
                    **fields,
                )
                if created:
                    field_values_set(
                        patient=patient, values=custom, actor=request.user, creating=True
                    )
        except ValidationError as error:
            form_add_service_errors(form, error)
            duplicate = _duplicate_link(request, error)
        else:
            if created:
                messages.success(request, _("Patient %(name)s added.") % {"name": patient.name})
            return redirect("patients:detail", pk=patient.pk)
    return render(
        request,
        "patients/patient_form.html",
        {"form": form, "duplicate": duplicate, "patient": None},
    )


def _patient_for_edit(request, pk):
    return get_for_clinic(selectors.patients_visible_to(request.membership), request.clinic, pk=pk)


@clinic_member_required
@require_http_methods(["GET", "POST"])
def patient_edit(request, pk):
    patient = _patient_for_edit(request, pk)
    form = PatientForm(request.POST or None, membership=request.membership, patient=patient)
    duplicate = None
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                services.patient_update(
                    patient=patient,
                    actor=request.user,
                    membership=request.membership,
                    **form.service_fields(),
                )
                # A changed 手术日期 moves the plans anchored on it, in this transaction.
                field_values_set(
                    patient=patient,
                    values=form.custom_values(),
                    actor=request.user,
                    membership=request.membership,
                )
        except ValidationError as error:
            form_add_service_errors(form, error)
            duplicate = _duplicate_link(request, error)
            patient.refresh_from_db()
        else:
            messages.success(request, _("Profile saved."))
            return redirect("patients:detail", pk=patient.pk)
    return render(
        request,
        "patients/patient_form.html",
        {
            "form": form,
            "duplicate": duplicate,
            "patient": patient,
            "editable": patient_editable_fields(request.membership),
        },
    )


@clinic_member_required
@require_http_methods(["GET", "POST"])
def patient_merge_page(request, pk):
    """Pick the other record (search), see what moves, confirm. The record of this page
    survives; the other is closed and points to it."""
    if not can_merge_patients(request.membership):
        messages.error(request, _("Your role cannot merge patient records."))
        return redirect("patients:detail", pk=pk)
    survivor = _patient_for_edit(request, pk)
    visible = selectors.patients_visible_to(request.membership)
    search = MergeSearchForm(request.GET or None)
    candidates = []
    if search.is_valid() and search.cleaned_data["q"]:
        candidates = list(
            visible.search(search.cleaned_data["q"]).exclude(pk=survivor.pk).order_by("-id")[:20]
        )
    other = preview = None
    error = None
    other_id = request.POST.get("other") or request.GET.get("other")
    if other_id:
        if not str(other_id).isdigit():
            error = _("Choose the other record from the search results.")
        else:
            other = visible.filter(pk=other_id).first()
            if other is None:
                error = _("Choose the other record from the search results.")
    if other is not None:
        try:
            preview = patient_merge_preview(survivor=survivor, duplicate=other)
        except ValidationError as exc:
            error = " ".join(exc.messages)
            other = None
    if request.method == "POST" and other is not None and error is None:
        try:
            patient_merge(survivor=survivor, duplicate=other, actor=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(
                request,
                _("%(other)s (#%(id)s) was merged into this record.")
                % {"other": other.name, "id": other.pk},
            )
            return redirect("patients:detail", pk=survivor.pk)
    return render(
        request,
        "patients/patient_merge.html",
        {
            "patient": survivor,
            "search": search,
            "candidates": candidates,
            "other": other,
            "preview": preview,
            "error": error,
        },
    )
