"""What the follow-ups panel of the patient page needs from the server, besides the API."""

from django import template

from followups import clock

register = template.Library()


@register.simple_tag
def clinic_today() -> str:
    """Today in clinic time (CLINIC_TIME_ZONE): the default day 0 of a plan started by hand."""
    return clock.local_today().isoformat()


@register.simple_tag(takes_context=True)
def appointment_doctors(context) -> list[tuple[int, str]]:
    """The clinic's doctors (user id, name) for the booking form; also puts the appointment
    kinds in the context."""
    from crm.models import Role
    from followups.appointment_models import AppointmentKind

    clinic = context.get("clinic") or getattr(context.get("request"), "clinic", None)
    context["appointment_kinds"] = AppointmentKind.choices
    if clinic is None:
        return []
    return [
        (m.user_id, m.name)
        for m in clinic.memberships.filter(role=Role.DOCTOR).select_related("user").order_by("id")
    ]
