"""The one composer for every text a patient gets: campaigns, single messages, welcomes,
care-plan steps, re-exam and appointment reminders, survey invitations.

- One placeholder syntax: {姓名} {医生} {诊所} {复诊日期} {链接} (VARIABLES; a sender may
  allow fewer). The older English names ({name} {doctor} {clinic} {date} {link}) are
  rewritten to the Chinese ones when a text is saved (`text_check`) and understood when an
  old text is filled.
- Saved (`text_check`): not empty, only known variables, no red line (the error names the
  phrase and why), within WeCom's length limit.
- Sent (`Composer.compose`): every variable filled once, in one pass over the text (a value
  with braces, 张{三}, is never read as a variable); a variable that is unknown or has no
  value is refused with a Chinese error, never sent literally; the red lines checked again on
  the filled text; the clinic's emergency notice (120) appended where its settings say;
  WeCom's limit: text.content of add_msg_template and send_welcome_msg is at most 4000 bytes.
- `Composer.preview` shows what a patient would get, or why it would be refused.

It lives in wechat, beside the outbox, so that the welcome (wechat.contacts) is composed by
it too; content, followups and doctors import it from here.
"""

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from wechat.redline import (
    content_settings_get,
    notice_appended,
    redline_checker,
    redline_message,
)

VARIABLES = ("姓名", "医生", "诊所", "复诊日期", "链接")
# A welcome leaves seconds after the patient adds the clinic: only what is known by then.
WELCOME_VARIABLES = ("姓名", "诊所")
# The English names of the first templates (care plans, the demo), read as these.
LEGACY_NAMES = {
    "name": "姓名",
    "doctor": "医生",
    "clinic": "诊所",
    "date": "复诊日期",
    "link": "链接",
}
# {anything} without braces or line breaks inside is a variable.
VARIABLE_RE = re.compile(r"\{([^{}\n]{1,20})\}")
# WeCom: text.content of add_msg_template / send_welcome_msg, "最长为4000个字节" (UTF-8).
TEXT_LIMIT_BYTES = 4000
# The patient's own links (content.urls: /r/a/ article, /r/l/ tracked article, /r/s/ survey):
# the token in them answers a survey or counts a read as that patient.
PATIENT_LINK_TOKEN_RE = re.compile(r"(/r/[a-z]/)[^/\s]+/?")


def text_variables(text: str) -> list[str]:
    """The variables a text uses, in order of first use (English names as they are)."""
    return list(dict.fromkeys(VARIABLE_RE.findall(text or "")))


def text_normalise(text: str) -> str:
    """{name}-style placeholders to the Chinese ones."""
    return VARIABLE_RE.sub(
        lambda m: (
            "{" + LEGACY_NAMES[m.group(1)] + "}" if m.group(1) in LEGACY_NAMES else m.group(0)
        ),
        text or "",
    )


def _unknown_error(unknown, allowed) -> str:
    return _("Unknown variable %(names)s. Available: %(available)s") % {
        "names": "、".join(f"{{{n}}}" for n in unknown),
        "available": " ".join(f"{{{n}}}" for n in allowed),
    }


def _bytes_error(size: int) -> str:
    return _(
        "The text is %(size)s bytes; WeCom accepts at most %(limit)s bytes (about 1,300 "
        "Chinese characters). Shorten it."
    ) % {"size": size, "limit": TEXT_LIMIT_BYTES}


def _protected_spans(text: str, values: dict[str, str]) -> list[tuple[int, int]]:
    """Where the patient's own values already stand in `text` (a preview the user edited
    and sends back): braces inside them are the value's, not a variable."""
    spans = []
    for value in {v for v in values.values() if v and "{" in v}:
        start = text.find(value)
        while start != -1:
            spans.append((start, start + len(value)))
            start = text.find(value, start + 1)
    return spans


def text_fill(
    *, text: str, values: dict[str, str], allowed=VARIABLES, field: str = "body", who: str = ""
) -> str:
    """Fill every variable of `text` once; ValidationError naming an unknown variable or one
    without a value (`who`: the patient's name, for the message)."""
    spans = _protected_spans(text, values)
    unknown, missing, parts, last = [], [], [], 0
    for match in VARIABLE_RE.finditer(text):
        if any(lo <= match.start() < hi for lo, hi in spans):
            continue
        name = LEGACY_NAMES.get(match.group(1), match.group(1))
        if name not in allowed:
            unknown.append(match.group(1))
            continue
        if not values.get(name):
            missing.append(name)
            continue
        parts += [text[last : match.start()], values[name]]
        last = match.end()
    if unknown:
        raise ValidationError({field: [_unknown_error(dict.fromkeys(unknown), allowed)]})
    if missing:
        message = _("No value for %(names)s for patient %(patient)s.") % {
            "names": "、".join(f"{{{n}}}" for n in dict.fromkeys(missing)),
            "patient": who,
        }
        raise ValidationError({field: [message]})
    return "".join(parts) + text[last:]


def doctor_name(patient) -> str:
    doctor = patient.assigned_doctor
    if doctor is None:
        return ""
    membership = doctor.memberships.filter(clinic_id=patient.clinic_id).first()
    return (
        (membership and membership.display_name) or doctor.get_full_name() or doctor.get_username()
    )


def patient_values(patient, extra: dict | None = None) -> dict[str, str]:
    """What each variable means for `patient`. {复诊日期} and {链接} come from the caller (a
    follow-up knows the revisit date, a survey its link); `extra` may override any value
    (English names allowed) and dates are written 2026年03月08日."""
    values = {
        "姓名": patient.name,
        "医生": "",
        "诊所": patient.clinic.name,
        "复诊日期": "",
        "链接": "",
    }
    extra = dict(extra or {})
    if "医生" not in extra and "doctor" not in extra:
        values["医生"] = doctor_name(patient)
    for key, value in extra.items():
        key = LEGACY_NAMES.get(key, key)
        values[key] = value.strftime("%Y年%m月%d日") if isinstance(value, date) else str(value)
    return values


class Composer:
    """The composer of one clinic: its red lines and settings read once, so a campaign of
    thousands composes without a query per patient (values aside)."""

    def __init__(self, clinic):
        self.clinic = clinic
        self.settings = content_settings_get(clinic=clinic)
        self._redlines = redline_checker(clinic=clinic)

    def redline_ensure(self, text: str, field: str = "body") -> None:
        hits = self._redlines(text)
        if hits:
            raise ValidationError({field: [redline_message(hits)]})

    def notice_append(self, text: str) -> str:
        return notice_appended(self.settings, text)

    def check(self, text: str, *, allowed=VARIABLES, field: str = "body") -> str:
        """At save: the text normalised ({name} → {姓名}), or ValidationError (empty, unknown
        variable, red line naming the phrase, over WeCom's limit)."""
        text = text_normalise((text or "").strip())
        if not text:
            raise ValidationError({field: [_("Enter the text.")]})
        unknown = [n for n in text_variables(text) if n not in allowed]
        if unknown:
            raise ValidationError({field: [_unknown_error(unknown, allowed)]})
        self.redline_ensure(text, field)
        size = len(self.notice_append(text).encode())
        if size > TEXT_LIMIT_BYTES:
            raise ValidationError({field: [_bytes_error(size)]})
        return text

    def compose(
        self,
        text: str,
        *,
        patient=None,
        extra: dict | None = None,
        values: dict | None = None,
        allowed=VARIABLES,
        field: str = "body",
        notice: bool = True,
    ) -> str:
        """At send: the text the patient gets, or ValidationError saying why not."""
        if values is None:
            values = patient_values(patient, extra) if patient is not None else {}
        who = patient.name if patient is not None else ""
        body = text_fill(
            text=(text or "").strip(), values=values, allowed=allowed, field=field, who=who
        )
        if not body:
            raise ValidationError({field: [_("Enter the text.")]})
        self.redline_ensure(body, field)
        if notice:
            body = self.notice_append(body)
        size = len(body.encode())
        if size > TEXT_LIMIT_BYTES:
            raise ValidationError({field: [_bytes_error(size)]})
        return body

    def preview(self, text: str, **options) -> dict:
        """What the patient would get ({"text", "bytes", "limit"}), or {"error"}."""
        try:
            body = self.compose(text, **options)
        except ValidationError as error:
            return {
                "text": "",
                "error": " ".join(m for ms in error.message_dict.values() for m in ms),
            }
        return {"text": body, "bytes": len(body.encode()), "limit": TEXT_LIMIT_BYTES, "error": ""}


def links_masked(text: str) -> str:
    """A sent text as staff read it (the timeline, the outbox pages): the patient's links
    without their tokens, so that nobody answers or reads as the patient from a screen."""
    return PATIENT_LINK_TOKEN_RE.sub(r"\1…", text)


def composer_for(clinic) -> Composer:
    return Composer(clinic)


def compose(*, clinic, text: str, **options) -> str:
    """Composer(clinic).compose for one text."""
    return Composer(clinic).compose(text, **options)


def text_check(*, clinic, text: str, **options) -> str:
    """Composer(clinic).check for one text at save."""
    return Composer(clinic).check(text, **options)
