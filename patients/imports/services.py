"""Import of existing patients from .xlsx and .csv, the way clinics keep them.

upload (ImportBatch, nothing else written) → column mapping with a preview → dry run
(`import_check`: every row validated, duplicates matched by phone, row-by-row errors) →
all-or-nothing commit (patients/imports/commit.py, run by a worker) → a report. Rows are streamed: the file is read row by
row, duplicates are looked up in batches, and patients are written in chunks.
"""

import csv
import re
from collections.abc import Iterator
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override

from crm import crypto
from patients.choices import Gender, Source
from patients.fields.services import clinic_fields, value_clean
from patients.imports.files import Formula, ImportFileError, read_rows
from patients.imports.models import ImportBatch
from patients.models import Patient, PatientTag
from patients.phones import PhoneError, mask_phone, normalize_phone

MAX_FILE_BYTES = 20 * 1024 * 1024
LOOKUP_BATCH = 1000

# Our fields, their labels, and the header names clinics use for them (matched loosely).
FIELDS = [
    ("name", gettext_lazy("Name"), ["姓名", "患者姓名", "客户姓名", "名字", "患者", "name"]),
    ("phone", gettext_lazy("Phone"), ["手机号", "手机号码", "手机", "电话", "联系电话", "phone"]),
    ("gender", gettext_lazy("Gender"), ["性别", "gender", "sex"]),
    ("birth_date", gettext_lazy("Birth date"), ["出生日期", "生日", "出生年月", "birth"]),
    ("source", gettext_lazy("Source"), ["来源", "来源渠道", "渠道", "source"]),
    ("source_detail", gettext_lazy("Source detail"), ["来源说明", "渠道说明", "来源详情"]),
    ("tags", gettext_lazy("Tags"), ["标签", "病种", "tags"]),
    ("notes", gettext_lazy("Notes"), ["备注", "说明", "notes"]),
]
FIELD_NAMES = [f[0] for f in FIELDS]


def import_fields(clinic) -> list[tuple[str, str, list[str]]]:
    """Our fields and the clinic's own (手术日期 …: mapped by `field_<id>`, found by name)."""
    return FIELDS + [
        (f.param, f.name, [_normalise_header(f.name)]) for f in clinic_fields(clinic.pk)
    ]


GENDERS = {
    "男": Gender.MALE,
    "male": Gender.MALE,
    "m": Gender.MALE,
    "女": Gender.FEMALE,
    "female": Gender.FEMALE,
    "f": Gender.FEMALE,
}
# What clinics write in a source column, beyond our own labels.
SOURCE_WORDS = {
    "门诊": Source.WALK_IN,
    "到店": Source.WALK_IN,
    "自然到诊": Source.WALK_IN,
    "病房": Source.WALK_IN,
    "企业微信": Source.WECOM_QR,
    "企微": Source.WECOM_QR,
    "活码": Source.WECOM_QR,
    "转介绍": Source.REFERRAL,
    "老患者介绍": Source.REFERRAL,
    "介绍": Source.REFERRAL,
    "好大夫": Source.ONLINE_PLATFORM,
    "春雨医生": Source.ONLINE_PLATFORM,
    "线上": Source.ONLINE_PLATFORM,
    "抖音": Source.DOCTOR_IP,
    "小红书": Source.DOCTOR_IP,
    "视频号": Source.DOCTOR_IP,
    "公众号": Source.DOCTOR_IP,
    "合作": Source.PARTNER,
    "合作机构": Source.PARTNER,
}
OUTCOMES = {
    "create": gettext_lazy("new patient"),
    "merge": gettext_lazy("merged into an existing patient"),
    "skip": gettext_lazy("skipped: already a patient"),
    "error": gettext_lazy("error"),
}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")
TAG_SEPARATORS = re.compile(r"[,，、;；/|\s]+")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return str(value).strip()


def _is_empty(values) -> bool:
    return all(_text(v) == "" for v in values)


def _normalise_header(text: str) -> str:
    return re.sub(r"[\s:：*（）()]", "", text).lower()


def find_header(batch: ImportBatch) -> tuple[int, list[str], list[list[str]]]:
    """The header row (the first row with two different values, so a merged title above
    it is passed over), its column names, and up to 10 data rows for the preview."""
    header_row, header, preview = 0, [], []
    for number, values in read_rows(batch):
        texts = [_text(v) for v in values]
        if not header_row:
            if len({t for t in texts if t}) >= 2:
                header_row, header = number, texts
            elif number >= 20:
                break
            continue
        if _is_empty(values):
            continue
        preview.append(texts)
        if len(preview) == 10:
            break
    if not header_row:
        raise ImportFileError(_("No header row found: the first row should name the columns."))
    return header_row, header, preview


def guess_mapping(header: list[str], clinic=None) -> dict[str, int | None]:
    """For each of our fields (and the clinic's own), the column whose header looks like it
    (exact, then partial)."""
    names = [_normalise_header(h) for h in header]
    mapping: dict[str, int | None] = {}
    for field, _label, aliases in import_fields(clinic) if clinic is not None else FIELDS:
        found = next((i for i, n in enumerate(names) if n in aliases), None)
        if found is None:
            found = next(
                (
                    i
                    for i, n in enumerate(names)
                    for a in aliases
                    if n and a in n and i not in mapping.values()
                ),
                None,
            )
        mapping[field] = found
    return mapping


# ---- checking ------------------------------------------------------------------------


class RowChecker:
    """Validates one row at a time; knows the clinic's tags and the phones seen so far."""

    def __init__(self, *, clinic, header: list[str], mapping: dict):
        self.clinic = clinic
        self.header = header
        self.mapping = {f: i for f, i in mapping.items() if i is not None}
        self.tags = {
            t.name: t for t in PatientTag.objects.filter(clinic=clinic).select_related("group")
        }
        self.sources = dict(SOURCE_WORDS)
        for value, label in Source.choices:
            self.sources[value] = value
            self.sources[str(label).lower()] = value
            with override("zh-hans"):
                self.sources[str(label)] = value
            with override("en"):
                self.sources[str(label).lower()] = value
        self.first_row_of_phone: dict[str, int] = {}
        # The clinic's own fields: those mapped to a column, and the required ones.
        self.custom = clinic_fields(clinic.pk)

    def cell(self, values, field):
        index = self.mapping.get(field)
        return values[index] if index is not None and index < len(values) else None

    def check(self, number: int, values: list) -> tuple[dict, list[str]]:
        """(clean values, error messages) for one data row."""
        errors, clean = [], {}
        for field, index in self.mapping.items():
            value = self.cell(values, field)
            if isinstance(value, Formula):
                column = self.header[index] if index < len(self.header) else field
                errors.append(
                    _(
                        "“%(column)s” holds a formula (%(formula)s), which is not evaluated; enter the value itself."
                    )
                    % {"column": column, "formula": value[:40]}
                )
        if errors:
            return clean, errors
        clean["name"] = _text(self.cell(values, "name"))
        if not clean["name"]:
            errors.append(_("the name is empty"))
        elif len(clean["name"]) > 50:
            errors.append(_("the name is longer than 50 characters"))
        phone = _text(self.cell(values, "phone")).replace(" ", "").replace("-", "")
        clean["phone"] = ""
        if phone:
            try:
                clean["phone"] = normalize_phone(phone)
            except PhoneError:
                errors.append(_("the phone number is not in a valid format"))
            else:
                first = self.first_row_of_phone.setdefault(clean["phone"], number)
                if first != number:
                    errors.append(
                        _("the phone number repeats row %(row)s of this file") % {"row": first}
                    )
        gender = _text(self.cell(values, "gender")).lower()
        clean["gender"] = GENDERS.get(gender, "")
        if gender and gender not in GENDERS:
            errors.append(_("the gender “%(value)s” is not 男 or 女") % {"value": gender})
        clean["birth_date"] = self._date(self.cell(values, "birth_date"), errors)
        source = _text(self.cell(values, "source"))
        clean["source"] = self.sources.get(source, self.sources.get(source.lower()))
        if source and clean["source"] is None:
            errors.append(_("the source “%(value)s” is not one of ours") % {"value": source})
        clean["source"] = clean["source"] or Source.IMPORT
        clean["source_detail"] = _text(self.cell(values, "source_detail"))[:100]
        clean["notes"] = _text(self.cell(values, "notes"))
        clean["tags"] = self._tags(self.cell(values, "tags"), errors)
        clean["custom_fields"] = self._custom(values, errors)
        return clean, errors

    def _custom(self, values, errors) -> dict:
        """{field: typed value} of the clinic's fields; each error names its field."""
        custom = {}
        for field in self.custom:
            raw = self.cell(values, field.param)
            try:
                value = value_clean(field, raw if isinstance(raw, date) else _text(raw))
            except ValidationError as exc:
                errors.extend(exc.messages)
                continue
            if value is None and field.is_required:
                errors.append(
                    _("“%(field)s”: %(message)s")
                    % {"field": field.name, "message": _("this field is required.")}
                )
            custom[field] = value
        return custom

    def _date(self, value, errors):
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            value = value.date()
        if not isinstance(value, date):
            text = _text(value)
            for fmt in DATE_FORMATS:
                try:
                    value = datetime.strptime(text, fmt).date()
                    break
                except ValueError:
                    continue
            else:
                errors.append(_("the birth date “%(value)s” is not a date") % {"value": text})
                return None
        if value > timezone.localdate() or value.year < 1900:
            errors.append(_("the birth date %(value)s is impossible") % {"value": value})
            return None
        return value

    def _tags(self, value, errors):
        tags, groups = [], {}
        for name in TAG_SEPARATORS.split(_text(value)):
            if not name:
                continue
            tag = self.tags.get(name)
            if tag is None:
                errors.append(_("the tag “%(tag)s” does not exist") % {"tag": name})
                continue
            if tag.group.is_single_choice and groups.get(tag.group_id, tag) != tag:
                errors.append(
                    _("only one tag of “%(group)s” is allowed") % {"group": tag.group.name}
                )
            groups[tag.group_id] = tag
            if tag not in tags:
                tags.append(tag)
        return tags


def _existing(clinic, phones: list[str]) -> dict[str, Patient]:
    # Every hash key's hash (a key rotation in progress still finds the duplicate).
    hashes = {h: p for p in phones for h in crypto.lookup_hashes(p)}
    found = Patient.objects.filter(clinic=clinic, phone_hash__in=list(hashes))
    return {hashes[p.phone_hash]: p for p in found}


def _checked_rows(batch: ImportBatch, merged_rows: set) -> Iterator[tuple[int, dict, list, object]]:
    """(row number, clean values, errors, existing patient or None) for every data row,
    looking duplicates up by phone in batches."""
    checker = RowChecker(clinic=batch.clinic, header=batch.header, mapping=batch.mapping)
    pending = []

    def flush():
        found = _existing(batch.clinic, [c["phone"] for _n, c, e in pending if c.get("phone")])
        for number, clean, errors in pending:
            yield number, clean, errors, found.get(clean.get("phone"))
        pending.clear()

    for number, values in read_rows(batch, merged_rows):
        if number <= batch.header_row or _is_empty(values):
            continue
        clean, errors = checker.check(number, values)
        pending.append((number, clean, errors))
        if len(pending) >= LOOKUP_BATCH:
            yield from flush()
    yield from flush()


def _row_message(number, messages):
    return _("Row %(row)s: %(message)s") % {"row": number, "message": "；".join(messages)}


def import_check(*, batch: ImportBatch) -> ImportBatch:
    """The dry run: validate every row and say what a commit would do. Writes nothing but
    the batch's own summary and report."""
    counts = {"rows": 0, "create": 0, "merge": 0, "skip": 0, "error": 0}
    results, merged_rows = [], set()
    try:
        for number, clean, errors, existing in _checked_rows(batch, merged_rows):
            counts["rows"] += 1
            if errors:
                outcome, message = "error", _row_message(number, errors)
            elif existing is not None:
                outcome = "merge" if batch.on_duplicate == ImportBatch.OnDuplicate.MERGE else "skip"
                message = _("same phone as patient #%(id)s") % {"id": existing.pk}
            else:
                outcome, message = "create", ""
            counts[outcome] += 1
            masked = mask_phone(clean["phone"]) if clean.get("phone") else ""
            results.append([number, outcome, clean.get("name", ""), masked, message])
    except ImportFileError:
        raise
    except (csv.Error, ValueError) as exc:
        raise ImportFileError(
            _("The file could not be read to the end: %(error)s") % {"error": exc}
        ) from exc
    warnings = []
    merged_data_rows = sorted(n for n in merged_rows if n > batch.header_row)
    if merged_data_rows:
        warnings.append(
            _("Merged cells in rows %(rows)s were split; each cell took the merged value.")
            % {"rows": _ranges_text(merged_data_rows)}
        )
    batch.summary = {**counts, "warnings": warnings}
    batch.results = results
    batch.status = ImportBatch.Status.CHECKED
    batch.save(update_fields=["summary", "results", "status"])
    return batch


def _ranges_text(numbers: list[int]) -> str:
    parts, start, prev = [], None, None
    for n in numbers:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}–{prev}" if prev != start else str(start))
            start = prev = n
    if start is not None:
        parts.append(f"{start}–{prev}" if prev != start else str(start))
    shown = parts[:10]
    return "、".join(shown) + ("…" if len(parts) > 10 else "")


def import_create(*, clinic, user, upload) -> ImportBatch:
    """Store an uploaded file and find its header; raises ImportFileError for a bad file."""
    if upload.size > MAX_FILE_BYTES:
        raise ImportFileError(_("The file is larger than 20 MB; split it into smaller files."))
    name = upload.name or "upload"
    if not name.lower().endswith((".xlsx", ".csv", ".xls")):
        raise ImportFileError(_("Upload an Excel (.xlsx) or CSV file."))
    batch = ImportBatch(clinic=clinic, created_by=user, file_name=name[:200], content=upload.read())
    batch.header_row, batch.header, batch.preview = find_header(batch)
    batch.mapping = guess_mapping(batch.header, clinic)
    batch.save()
    return batch


def report_rows(batch: ImportBatch) -> Iterator[list[str]]:
    """The row-by-row report, for download."""
    outcomes = OUTCOMES
    yield [_("Row"), _("Result"), _("Name"), _("Phone"), _("Details")]
    for number, outcome, name, masked, message in batch.results:
        yield [str(number), str(outcomes.get(outcome, outcome)), name, masked, message]
