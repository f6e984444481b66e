"""Writing the timeline (每一次触达均留痕): every service that touches a patient records a Touch
here, one at a time (`touch_record`) or built unsaved for one bulk INSERT (`touch_build`).

Entries are worded in the reader's language: a writer passes `summary=worded(msgid, **args)`
(English msgid, marked with gettext_noop); the touch keeps the msgid and its arguments in
payload["wording"] and `touch_text` words it again when shown. The summary column keeps the
wording of the moment (search, old readers); entries with a plain summary show it as stored."""

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext as _

from patients.choices import TouchChannel, TouchKind
from patients.models import Patient, Touch

SUMMARY_MAX_LENGTH = 500


class Worded(str):
    """A summary worded now (the str) that remembers how to be worded again (`stored`)."""

    stored: dict


def _stored_arg(value):
    # A choice label or other lazy translation keeps its msgid (and context), so the reader's
    # language words it; anything else (a name, a title, a date) is kept as its text.
    if isinstance(value, Promise):
        args = getattr(value, "_args", ())
        if len(args) == 1 and isinstance(args[0], str):
            return {"msgid": args[0]}
        if len(args) == 2 and all(isinstance(a, str) for a in args):
            return {"context": args[0], "msgid": args[1]}
    if isinstance(value, Worded):
        return value.stored
    if isinstance(value, list | tuple):
        return [_stored_arg(v) for v in value]
    return str(value)


def _shown_arg(value) -> str:
    if isinstance(value, list):
        return ", ".join(_shown_arg(v) for v in value)
    if isinstance(value, dict):
        if "context" in value:
            return pgettext(value["context"], value["msgid"])
        return _wording_text(value)
    return str(value)


def _wording_text(stored: dict) -> str:
    text = gettext(stored["msgid"])
    args = stored.get("args")
    if args is None:  # a label: no placeholders to fill
        return text
    return text % {k: _shown_arg(v) for k, v in args.items()}


def worded(msgid: str, **args) -> Worded:
    """A timeline summary to word again in each reader's language (see the module's text).
    Arguments may be lazy labels (Stage.LEAD.label), plain text, or other `worded` pieces."""
    stored = {"msgid": msgid, "args": {k: _stored_arg(v) for k, v in args.items()}}
    summary = Worded(_wording_text(stored))
    summary.stored = stored
    return summary


def touch_text(touch: Touch) -> str:
    """The entry in the active language; the stored summary for entries without a wording (and
    if a catalogue's wording no longer fits its arguments)."""
    stored = (touch.payload or {}).get("wording") if isinstance(touch.payload, dict) else None
    if not stored:
        return touch.summary
    try:
        return _wording_text(stored)[:SUMMARY_MAX_LENGTH]
    except (KeyError, TypeError, ValueError):
        return touch.summary


def touch_build(
    *,
    clinic_id: int,
    patient_id: int,
    kind: str,
    summary: str,
    actor=None,
    channel: str = TouchChannel.SYSTEM,
    payload: dict | None = None,
    occurred_at=None,
) -> Touch:
    """A checked, unsaved timeline entry: for writers that insert many at once
    (Touch.objects.bulk_create); one entry goes through touch_record."""
    if kind not in TouchKind.values:
        raise ValidationError({"kind": [_("Unknown timeline entry kind.")]})
    if channel not in TouchChannel.values:
        raise ValidationError({"channel": [_("Unknown channel.")]})
    payload = dict(payload or {})
    if isinstance(summary, Worded):
        payload["wording"] = summary.stored
    # What staff write (notes, call summaries) is refused when too long, never cut; generated
    # summaries are cut to the column.
    if kind in (TouchKind.NOTE, TouchKind.CALL) and len(summary) > SUMMARY_MAX_LENGTH:
        raise ValidationError(
            {
                "summary": [
                    _("A note has at most %(max)s characters (this has %(n)s).")
                    % {"max": SUMMARY_MAX_LENGTH, "n": len(summary)}
                ]
            }
        )
    return Touch(
        clinic_id=clinic_id,
        patient_id=patient_id,
        kind=kind,
        channel=channel,
        actor=actor,
        summary=str(summary)[:SUMMARY_MAX_LENGTH],
        payload=payload,
        occurred_at=occurred_at or timezone.now(),
    )


def touch_record(*, patient: Patient, kind: str, summary: str, **details) -> Touch:
    touch = touch_build(
        clinic_id=patient.clinic_id, patient_id=patient.pk, kind=kind, summary=summary, **details
    )
    touch.patient = patient
    touch.save()
    return touch
