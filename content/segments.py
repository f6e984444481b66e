"""A campaign's segment: the patient list's own filters (PatientFilter's query parameters),
stored with the campaign and checked by PatientFilter itself."""

from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.translation import gettext as _

from patients.filters import PatientFilter
from patients.models import Patient

LIST_PARAMS = {"stage", "source"}
CSV_PARAMS = {"tag", "tag_all"}


def segment_clean(segment: dict | None) -> dict:
    """PatientFilter's own query parameters, checked by PatientFilter itself."""
    segment = dict(segment or {})
    allowed = set(PatientFilter.base_filters)
    unknown = sorted(set(segment) - allowed)
    if unknown:
        raise ValidationError(
            {"segment": [_("Unknown segment filter: %(names)s") % {"names": ", ".join(unknown)}]}
        )
    cleaned = {}
    for key, value in segment.items():
        if value in (None, "", []):
            continue
        if key in LIST_PARAMS:
            cleaned[key] = [str(v) for v in (value if isinstance(value, list) else [value])]
        elif key in CSV_PARAMS:
            values = value if isinstance(value, list) else str(value).split(",")
            cleaned[key] = ",".join(str(v).strip() for v in values if str(v).strip())
        else:
            # JSON true/false as the query string says them (the filters take "true"/"false").
            cleaned[key] = str(value).lower() if isinstance(value, bool) else str(value)
    form = PatientFilter(_querydict(cleaned), queryset=Patient.objects.none()).form
    if not form.is_valid():
        raise ValidationError({"segment": [f"{k}: {' '.join(v)}" for k, v in form.errors.items()]})
    return cleaned


def _querydict(segment: dict) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in segment.items():
        if isinstance(value, list):
            data.setlist(key, value)
        else:
            data[key] = value
    return data


def segment_patients(*, clinic, segment: dict):
    """The clinic's patients the segment selects (before exclusions)."""
    base = Patient.objects.filter(clinic=clinic)
    return PatientFilter(_querydict(segment), queryset=base).qs


# Exclusions, computed in the database ----------------------------------------------------
