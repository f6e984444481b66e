"""Message templates: {姓名} {医生} {复诊日期} {诊所} {链接}, filled in for one patient.

The composer (wechat.composer) does the work for every patient-facing text; these are the
names content's callers (and appointment reminders) have always used. `render` fills the
variables only; `wechat.composer.compose` also checks red lines, appends the emergency
notice and holds WeCom's length limit.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from followups.appointments import appointment_next_date
from wechat.composer import (
    VARIABLES,
    patient_values,
    text_fill,
    text_variables,
)


def template_variables(text: str) -> list[str]:
    """The variables a text uses, in order of first use."""
    return text_variables(text)


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


def revisit_extra(*, text: str, patient, extra: dict | None = None) -> dict:
    """`extra` with {复诊日期} from the patient's next booked appointment (followups) when the
    text uses it and the caller gave no date."""
    extra = dict(extra or {})
    if "复诊日期" in template_variables(text) and not extra.get("复诊日期"):
        extra["复诊日期"] = appointment_next_date(patient=patient) or ""
    return extra


def render(*, template_text: str, patient, extra: dict | None = None, allowed=VARIABLES) -> str:
    """The text for `patient`, each variable filled once; ValidationError naming an unknown
    or missing variable (a name with braces, 张{三}, is never read as one)."""
    if not (template_text or "").strip():
        raise ValidationError({"template_text": [_("Enter the text.")]})
    return text_fill(
        text=template_text,
        values=patient_values(
            patient, revisit_extra(text=template_text, patient=patient, extra=extra)
        ),
        allowed=allowed,
        field="template_text",
        who=patient.name,
    )
