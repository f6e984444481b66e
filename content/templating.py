"""Message templates: {姓名} {医生} {复诊日期} {诊所}, filled in for one patient.

An unknown variable, or a variable this patient has no value for, is an error before
anything is sent; the message names the variable.
"""

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from followups.appointments import appointment_next_date

VARIABLES = ("姓名", "医生", "复诊日期", "诊所")
# {anything} without braces or line breaks inside is a variable.
VARIABLE_RE = re.compile(r"\{([^{}\n]{1,20})\}")


def template_variables(text: str) -> list[str]:
    """The variables a text uses, in order of first use."""
    return list(dict.fromkeys(VARIABLE_RE.findall(text or "")))


def template_validate(*, text: str, field: str = "body", allowed=VARIABLES) -> None:
    """Unknown variables are an error, named, with the ones that exist."""
    if not (text or "").strip():
        raise ValidationError({field: [_("Enter the text.")]})
    unknown = [name for name in template_variables(text) if name not in allowed]
    if unknown:
        raise ValidationError(
            {
                field: [
                    _("Unknown variable %(names)s. Available: %(available)s")
                    % {
                        "names": "、".join(f"{{{n}}}" for n in unknown),
                        "available": " ".join(f"{{{n}}}" for n in allowed),
                    }
                ]
            }
        )


def doctor_name(patient) -> str:
    doctor = patient.assigned_doctor
    if doctor is None:
        return ""
    membership = doctor.memberships.filter(clinic_id=patient.clinic_id).first()
    return (
        (membership and membership.display_name) or doctor.get_full_name() or doctor.get_username()
    )


def patient_values(patient, extra: dict | None = None) -> dict[str, str]:
    """What each variable means for `patient`. {复诊日期} comes from the caller (a follow-up
    knows the revisit date) or else, in render, from the patient's next booked appointment;
    `extra` may also override any other value."""
    values = {
        "姓名": patient.name,
        "医生": doctor_name(patient),
        "诊所": patient.clinic.name,
        "复诊日期": "",
    }
    for key, value in (extra or {}).items():
        values[key] = value.strftime("%Y年%m月%d日") if isinstance(value, date) else str(value)
    return values


def render(*, template_text: str, patient, extra: dict | None = None) -> str:
    """The text for `patient`; ValidationError naming an unknown or missing variable."""
    template_validate(text=template_text, field="template_text")
    if "复诊日期" in template_variables(template_text) and not (extra or {}).get("复诊日期"):
        # No date given: the patient's next booked appointment (followups), if any.
        extra = {**(extra or {}), "复诊日期": appointment_next_date(patient=patient) or ""}
    values = patient_values(patient, extra)
    missing = [name for name in template_variables(template_text) if not values.get(name)]
    if missing:
        raise ValidationError(
            {
                "template_text": [
                    _("No value for %(names)s for patient %(patient)s.")
                    % {"names": "、".join(f"{{{n}}}" for n in missing), "patient": patient.name}
                ]
            }
        )
    return VARIABLE_RE.sub(lambda m: values[m.group(1)], template_text)
