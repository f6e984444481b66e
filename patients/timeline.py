"""Writing the timeline (每一次触达均留痕): every service that touches a patient records a Touch
here, one at a time (`touch_record`) or built unsaved for one bulk INSERT (`touch_build`)."""

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Patient, Touch, TouchChannel, TouchKind

SUMMARY_MAX_LENGTH = 500


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
        summary=summary[:SUMMARY_MAX_LENGTH],
        payload=payload or {},
        occurred_at=occurred_at or timezone.now(),
    )


def touch_record(*, patient: Patient, kind: str, summary: str, **details) -> Touch:
    touch = touch_build(
        clinic_id=patient.clinic_id, patient_id=patient.pk, kind=kind, summary=summary, **details
    )
    touch.patient = patient
    touch.save()
    return touch
