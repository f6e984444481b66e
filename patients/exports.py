"""Export of a filtered patient list as CSV or xlsx. Phones are masked unless the user may
reveal them; every export is written to the audit log before the first byte leaves."""

import csv
import io
from collections.abc import Iterator

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from crm.audit import audit_record
from crm.models import AuditAction
from crm.selectors import staff_names
from patients.fields.services import clinic_fields, value_text, values_of
from patients.phones import national
from patients.selectors import clinic_tags, patient_tags

FORMATS = ("csv", "xlsx")
# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """Text a spreadsheet shows as text: a leading quote defuses formula triggers."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _header(fields=()) -> list[str]:
    return [
        _("Name"),
        _("Phone"),
        _("Gender"),
        _("Birth date"),
        _("Source"),
        _("Journey stage"),
        _("Tags"),
        _("Doctor"),
        _("Last visit"),
        _("Created at"),
        # The clinic's own fields, by their names: the import maps these headers back.
        *(f.name for f in fields),
    ]


CHUNK = 2000


def _chunks(queryset) -> Iterator[list]:
    chunk = []
    for patient in queryset.select_related("assigned_doctor").iterator(chunk_size=CHUNK):
        chunk.append(patient)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _rows(queryset, *, clinic, full_phones: bool) -> Iterator[list[str]]:
    fields = clinic_fields(clinic.pk)
    yield [neutralise(v) for v in _header(fields)]
    tags = names = None
    for chunk in _chunks(queryset):
        values = values_of([p.pk for p in chunk], fields) if fields else {}
        for patient in chunk:
            tags = tags if tags is not None else clinic_tags(patient.clinic_id)
            names = names if names is not None else staff_names(patient.clinic_id)
            yield _row(patient, tags, names, full_phones, fields, values.get(patient.pk, {}))


def _row(patient, tags, names, full_phones, fields, values) -> list[str]:
    phone = national(patient.phone) if full_phones else patient.phone_masked
    doctor = patient.assigned_doctor
    return [
        neutralise(v)
        for v in (
            patient.name,
            phone,
            patient.get_gender_display() if patient.gender else "",
            patient.birth_date or "",
            patient.get_source_display(),
            patient.get_stage_display(),
            "、".join(t.name for t in patient_tags(patient, tags)),
            names.get(doctor.pk) or doctor.get_username() if doctor else "",
            patient.last_visit_date or "",
            timezone.localtime(patient.created_at).strftime("%Y-%m-%d %H:%M"),
            *(value_text(f, values.get(f.pk)) for f in fields),
        )
    ]


class _Echo:
    def write(self, value):
        return value


def patients_export(*, queryset, clinic, user, membership, fmt: str, filters: dict, ip=None):
    """Log the export, then return (content type, iterable of bytes or bytes)."""
    full_phones = membership.can_reveal_phone
    audit_record(
        clinic_id=clinic.pk,
        user=user,
        action=AuditAction.EXPORT,
        object_type="patient",
        detail={
            "format": fmt,
            "filters": filters,
            "count": queryset.count(),
            "full_phones": full_phones,
        },
        ip_address=ip,
    )
    if fmt == "xlsx":
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(_("Patients"))
        for row in _rows(queryset, clinic=clinic, full_phones=full_phones):
            sheet.append(row)
        buffer = io.BytesIO()
        workbook.save(buffer)
        return (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            buffer.getvalue(),
        )
    writer = csv.writer(_Echo())

    def stream():
        yield "\ufeff".encode()  # Excel opens UTF-8 with a BOM as UTF-8, not GBK
        for row in _rows(queryset, clinic=clinic, full_phones=full_phones):
            yield writer.writerow(row).encode("utf-8")

    return "text/csv; charset=utf-8", stream()
