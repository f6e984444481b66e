"""The 家属 panel of the patient page: add, change and remove a patient's caregivers and the
reminders each receives. Plain forms posting here; the services (patients.caregivers) decide,
and a refusal comes back as a message on the patient page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.tenancy import clinic_member_required, get_for_clinic
from patients import caregivers as caregiving
from patients import selectors
from patients.models import Caregiver


def _patient(request, pk):
    return get_for_clinic(selectors.patients_for_list(request.membership), request.clinic, pk=pk)


def _back(patient):
    return redirect(reverse("patients:detail", args=[patient.pk]) + "#caregivers")


def _errors(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return " ".join(m for ms in error.message_dict.values() for m in ms)
    return " ".join(error.messages)


@clinic_member_required(capability="edit_patients")
@require_POST
def caregiver_save_page(request, pk, caregiver_pk=None):
    patient = _patient(request, pk)
    caregiver = None
    if caregiver_pk is not None:
        caregiver = get_for_clinic(
            Caregiver.objects.filter(patient=patient), request.clinic, pk=caregiver_pk
        )
    data = request.POST
    changes = {
        "name": data.get("name", ""),
        "relation": data.get("relation", ""),
        "external_userid": data.get("external_userid", ""),
        "reminders": data.getlist("reminders"),
    }
    phone = data.get("phone", "").strip()
    # Changing a caregiver: an empty phone box keeps the number (it is shown masked).
    if caregiver is None or phone:
        changes["phone"] = phone
    try:
        caregiving.caregiver_save(
            patient=patient, caregiver=caregiver, actor=request.user, **changes
        )
    except ValidationError as error:
        messages.error(
            request, _("The caregiver was not saved: %(errors)s") % {"errors": _errors(error)}
        )
    else:
        messages.success(request, _("Caregiver saved."))
    return _back(patient)


@clinic_member_required(capability="edit_patients")
@require_POST
def caregiver_remove_page(request, pk, caregiver_pk):
    patient = _patient(request, pk)
    caregiver = get_for_clinic(
        Caregiver.objects.filter(patient=patient), request.clinic, pk=caregiver_pk
    )
    caregiving.caregiver_remove(caregiver=caregiver, actor=request.user)
    messages.success(request, _("Caregiver removed."))
    return _back(patient)
