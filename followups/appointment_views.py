"""The appointments page: a day and the week after it, per doctor, with the status actions
(the same services the API calls)."""

from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.models import Role
from crm.tenancy import clinic_member_required, get_for_clinic
from followups import appointments, clock, services
from followups.views import _back, _error_text


def _day(raw: str | None) -> date:
    try:
        return date.fromisoformat(raw) if raw else clock.local_today()
    except ValueError:
        return clock.local_today()


@clinic_member_required
def appointment_list(request):
    day = _day(request.GET.get("day"))
    doctors = [
        (m.user_id, m.name)
        for m in request.clinic.memberships.filter(role=Role.DOCTOR).select_related("user")
    ]
    doctor_ids = {user_id for user_id, _name in doctors}
    raw_doctor = request.GET.get("doctor") or ""
    doctor = int(raw_doctor) if raw_doctor.isdigit() and int(raw_doctor) in doctor_ids else None
    days = appointments.appointment_days(membership=request.membership, day=day, doctor=doctor)
    return render(
        request,
        "followups/appointments.html",
        {
            "day": day,
            "today": clock.local_today(),
            "previous": day - timedelta(days=1),
            "next": day + timedelta(days=1),
            "days": days,
            "doctors": doctors,
            "doctor": doctor,
            "can_change": request.membership.can_change_appointments,
        },
    )


@require_POST
@clinic_member_required(capability="change_appointments")
def appointment_change(request, pk, change):
    if change not in ("arrive", "no-show", "cancel"):
        raise Http404
    appointment = get_for_clinic(
        appointments.appointments_visible_to(request.membership), request.clinic, pk=pk
    )
    try:
        if change == "arrive":
            services.appointment_arrive(appointment=appointment, by=request.user)
            done = _("Arrived: %(patient)s")
        elif change == "no-show":
            services.appointment_no_show(appointment=appointment, by=request.user)
            done = _("No-show recorded, and a call to book again is in the queue: %(patient)s")
        else:
            services.appointment_cancel(
                appointment=appointment, by=request.user, reason=request.POST.get("reason", "")
            )
            done = _("Cancelled: %(patient)s")
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, done % {"patient": appointment.patient.name})
    return _back(request, reverse("appointments:list"))
