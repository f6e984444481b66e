"""The clinic's patient fields: definitions (admins) and a patient's values (the care roles).

Every way in (the patient page, the API, the import) cleans a value with `value_clean`, whose
errors name the field (“手术日期”：…), and writes with `field_values_set`, which records the
change on the timeline and tells settings.PATIENT_DATE_FIELD_HANDLERS of a changed date (the
care plans anchored on it move their open tasks)."""

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from importlib import import_module

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.models import Clinic
from patients.choices import TouchKind
from patients.fields.models import CHOICE_KINDS, FieldKind, PatientField, PatientFieldValue
from patients.timeline import touch_record, worded

MAX_FIELDS = 50
MAX_OPTIONS = 50
OPTION_MAX_LENGTH = 50
TEXT_MAX_LENGTH = 500
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")
OPTION_SEPARATORS = re.compile(r"[,，、;；|\n]+")
NUMBER_LIMIT = Decimal("1e10")


# ---- reads ---------------------------------------------------------------------------


def clinic_fields(clinic_id: int) -> list[PatientField]:
    """The clinic's fields in their order."""
    return list(PatientField.objects.filter(clinic_id=clinic_id).order_by("position", "id"))


def values_of(
    patient_ids, fields: list[PatientField] | None = None
) -> dict[int, dict[int, object]]:
    """patient id → field id → value (typed: str, Decimal, date, list), one query."""
    rows = PatientFieldValue.objects.filter(patient_id__in=list(patient_ids))
    if fields is not None:
        rows = rows.filter(field_id__in=[f.pk for f in fields])
    kinds = {f.pk: f.kind for f in fields} if fields is not None else None
    out: dict[int, dict[int, object]] = {}
    if kinds is None:
        rows = rows.select_related("field")
    for row in rows:
        kind = kinds[row.field_id] if kinds is not None else row.field.kind
        out.setdefault(row.patient_id, {})[row.field_id] = _row_value(row, kind)
    return out


def _row_value(row: PatientFieldValue, kind: str):
    if kind == FieldKind.NUMBER:
        return row.value_number
    if kind == FieldKind.DATE:
        return row.value_date
    if kind == FieldKind.CHOICES:
        return list(row.value_choices or [])
    return row.value_text


def value_text(field: PatientField, value) -> str:
    """A value as people read it (pages, exports): 2026-12-08, 7.5, 青霉素、头孢."""
    if value is None or value == "" or value == []:
        return ""
    if field.kind == FieldKind.NUMBER:
        return number_text(value)
    if field.kind == FieldKind.DATE:
        return value.isoformat()
    if field.kind == FieldKind.CHOICES:
        return "、".join(value)
    return str(value)


def number_text(value: Decimal) -> str:
    text = format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)
    return text


def value_json(field: PatientField, value):
    """A value for the API: a number as a JSON number, a date as ISO text."""
    if value is None or value == "" or value == []:
        return None
    if field.kind == FieldKind.NUMBER:
        return int(value) if value == value.to_integral_value() else float(value)
    if field.kind == FieldKind.DATE:
        return value.isoformat()
    return value


# ---- values ----------------------------------------------------------------------------


def _named(field: PatientField, message: str) -> str:
    return _("“%(field)s”: %(message)s") % {"field": field.name, "message": message}


def _is_empty(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []


def date_parse(raw) -> date | None:
    """A date from an ISO text, 2026/12/08, 2026年12月8日, or a datetime; None if it is not one."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def value_clean(field: PatientField, raw):
    """The typed value of `raw` for `field` (None: no value), or a ValidationError whose
    message names the field."""
    if _is_empty(raw):
        return None
    kind = field.kind
    if kind == FieldKind.TEXT:
        if not isinstance(raw, str | int | float | Decimal):
            raise ValidationError(_named(field, _("enter text.")))
        text = str(raw).strip()
        if len(text) > TEXT_MAX_LENGTH:
            raise ValidationError(
                _named(
                    field,
                    _("at most %(max)s characters (this has %(n)s).")
                    % {"max": TEXT_MAX_LENGTH, "n": len(text)},
                )
            )
        return text
    if kind == FieldKind.NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
            raise ValidationError(_named(field, _("enter a number.")))
        try:
            number = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise ValidationError(
                _named(field, _("“%(value)s” is not a number.") % {"value": str(raw)[:40]})
            )
        if abs(number) >= NUMBER_LIMIT:
            raise ValidationError(_named(field, _("the number is too large.")))
        return number.quantize(Decimal("0.0001"))
    if kind == FieldKind.DATE:
        if not isinstance(raw, str | date):
            raise ValidationError(_named(field, _("enter a date, e.g. 2026-12-08.")))
        value = date_parse(raw)
        if value is None:
            raise ValidationError(
                _named(
                    field,
                    _("“%(value)s” is not a date; write it like 2026-12-08.")
                    % {"value": str(raw)[:40]},
                )
            )
        if not 1900 <= value.year <= 2100:
            raise ValidationError(
                _named(field, _("%(value)s is not a possible date.") % {"value": value})
            )
        return value
    # Choices: the field's own options, as written there.
    if isinstance(raw, str):
        items = [s.strip() for s in OPTION_SEPARATORS.split(raw) if s.strip()]
    elif isinstance(raw, list | tuple) and all(isinstance(s, str) for s in raw):
        items = [s.strip() for s in raw if s.strip()]
    else:
        raise ValidationError(_named(field, _("choose from the options.")))
    unknown = [s for s in items if s not in field.options]
    if unknown:
        raise ValidationError(
            _named(
                field,
                _("“%(value)s” is not one of its options (%(options)s).")
                % {"value": unknown[0][:40], "options": "、".join(field.options)},
            )
        )
    if kind == FieldKind.CHOICE:
        if len(set(items)) > 1:
            raise ValidationError(_named(field, _("choose one option only.")))
        return items[0] if items else None
    chosen = [o for o in field.options if o in items]  # the field's order, once each
    return chosen or None


def _store(row: PatientFieldValue, field: PatientField, value) -> None:
    row.value_text, row.value_number, row.value_date, row.value_choices = "", None, None, []
    if field.kind == FieldKind.NUMBER:
        row.value_number = value
    elif field.kind == FieldKind.DATE:
        row.value_date = value
    elif field.kind == FieldKind.CHOICES:
        row.value_choices = value
    else:
        row.value_text = value


def values_clean(
    *, clinic_id: int, values: dict, require: bool = False, existing: dict | None = None
) -> dict[PatientField, object]:
    """{field or field id or name: raw} → {field: typed value}; every field's error at once,
    keyed by its form name (field_<id>). With `require` (a new patient) a required field of
    the clinic left out is an error; a required field is never emptied."""
    fields = clinic_fields(clinic_id)
    by_key = {}
    for f in fields:
        by_key[f.pk] = by_key[str(f.pk)] = by_key[f.name] = by_key[f.param] = f
    cleaned: dict[PatientField, object] = {}
    errors: dict[str, list[str]] = {}
    for key, raw in values.items():
        field = key if isinstance(key, PatientField) else by_key.get(key)
        if field is None or field.clinic_id != clinic_id:
            errors.setdefault("custom_fields", []).append(
                _("This clinic has no patient field “%(name)s”.") % {"name": str(key)[:30]}
            )
            continue
        try:
            cleaned[field] = value_clean(field, raw)
        except ValidationError as exc:
            errors.setdefault(field.param, []).extend(exc.messages)
    for field in fields:
        if not field.is_required or field.param in errors:
            continue
        missing = field in cleaned and cleaned[field] is None
        if require and field not in cleaned:
            missing = True
        if missing:
            errors.setdefault(field.param, []).append(_named(field, _("this field is required.")))
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def field_values_set(
    *, patient, values: dict, actor=None, membership=None, creating: bool = False
) -> list[PatientField]:
    """Set some of a patient's field values ({field | id | name: raw}; empty clears). Returns
    the fields that changed. With `membership` (a person editing) the role must have
    edit_patient_fields. A change is on the timeline (the field, before → after); a date's
    change is told to settings.PATIENT_DATE_FIELD_HANDLERS in this transaction."""
    if not values:
        return []
    if membership is not None and not membership.can("edit_patient_fields"):
        raise ValidationError(
            {"custom_fields": [_("Your role cannot change the patient's fields.")]}
        )
    cleaned = values_clean(clinic_id=patient.clinic_id, values=values, require=creating)
    rows = {
        r.field_id: r
        for r in PatientFieldValue.objects.select_for_update().filter(
            patient=patient, field__in=list(cleaned)
        )
    }
    changed, changes, dates = [], [], []
    now = timezone.now()
    for field, value in cleaned.items():
        row = rows.get(field.pk)
        old = _row_value(row, field.kind) if row is not None else None
        if old == value or (old in ("", []) and value is None):
            continue
        if value is None:
            row.delete()
        else:
            row = row or PatientFieldValue(
                clinic_id=patient.clinic_id, patient=patient, field=field
            )
            _store(row, field, value)
            row.updated_at = now
            row.save()
        changed.append(field)
        changes.append(
            worded(
                gettext_noop("%(field)s %(old)s → %(new)s"),
                field=field.name,
                old=value_text(field, old) or "—",
                new=value_text(field, value) or "—",
            )
        )
        if field.kind == FieldKind.DATE:
            dates.append((field, old, value))
    if not changed:
        return []
    touch_record(
        patient=patient,
        kind=TouchKind.PROFILE,
        actor=actor,
        summary=worded(gettext_noop("Patient fields: %(changes)s"), changes=changes),
        payload={
            "event": "fields_changed",
            "fields": [
                {"id": f.pk, "name": f.name, "value": value_json(f, cleaned[f])} for f in changed
            ],
        },
    )
    if not creating:
        for field, old, new in dates:
            for path in settings.PATIENT_DATE_FIELD_HANDLERS:
                import_module(path).date_field_changed(
                    patient=patient, field=field, old=old, new=new, actor=actor
                )
    return changed


def values_create_many(*, clinic_id: int, rows: list[tuple[int, dict]]) -> int:
    """Bulk creation's values (the import): [(patient id, {field: typed value})], already
    clean; one INSERT."""
    now = timezone.now()
    objects = []
    for patient_id, values in rows:
        for field, value in values.items():
            if value is None:
                continue
            row = PatientFieldValue(
                clinic_id=clinic_id, patient_id=patient_id, field=field, updated_at=now
            )
            _store(row, field, value)
            objects.append(row)
    PatientFieldValue.objects.bulk_create(objects)
    return len(objects)


# ---- definitions -----------------------------------------------------------------------


def _options_clean(kind: str, options) -> list[str]:
    if kind not in CHOICE_KINDS:
        return []
    if isinstance(options, str):
        options = OPTION_SEPARATORS.split(options)
    if not isinstance(options, list | tuple) or not all(isinstance(o, str) for o in options):
        raise ValidationError({"options": [_("List the options, one per line.")]})
    cleaned: list[str] = []
    for option in (o.strip() for o in options):
        if not option or option in cleaned:
            continue
        if len(option) > OPTION_MAX_LENGTH:
            raise ValidationError(
                {
                    "options": [
                        _("The option “%(option)s…” is longer than %(max)s characters.")
                        % {"option": option[:10], "max": OPTION_MAX_LENGTH}
                    ]
                }
            )
        cleaned.append(option)
    if not cleaned:
        raise ValidationError({"options": [_("A choice field needs at least one option.")]})
    if len(cleaned) > MAX_OPTIONS:
        raise ValidationError({"options": [_("A field has at most 50 options.")]})
    return cleaned


def _name_clean(clinic_id: int, name, exclude_pk=None) -> str:
    name = str(name or "").strip()
    if not name:
        raise ValidationError({"name": [_("Enter the field's name.")]})
    if len(name) > 30:
        raise ValidationError({"name": [_("A field's name has at most 30 characters.")]})
    taken = PatientField.objects.filter(clinic_id=clinic_id, name=name).exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError(
            {"name": [_("This clinic already has a field named “%(name)s”.") % {"name": name}]}
        )
    return name


@transaction.atomic
def field_create(
    *,
    clinic: Clinic,
    name: str,
    kind: str,
    options=(),
    is_required: bool = False,
    help_text: str = "",
    position: int | None = None,
) -> PatientField:
    if kind not in FieldKind.values:
        raise ValidationError({"kind": [_("Choose the field's kind.")]})
    name = _name_clean(clinic.pk, name)
    if PatientField.objects.filter(clinic=clinic).count() >= MAX_FIELDS:
        raise ValidationError({"name": [_("A clinic has at most 50 patient fields.")]})
    if position is None:
        last = PatientField.objects.filter(clinic=clinic).order_by("-position").first()
        position = (last.position + 1) if last else 0
    return PatientField.objects.create(
        clinic=clinic,
        name=name,
        kind=kind,
        options=_options_clean(kind, list(options) if not isinstance(options, str) else options),
        is_required=bool(is_required),
        help_text=str(help_text or "").strip()[:100],
        position=max(0, min(int(position), 32767)),
    )


@transaction.atomic
def field_update(
    *,
    field: PatientField,
    name: str | None = None,
    kind: str | None = None,
    options=None,
    is_required: bool | None = None,
    help_text: str | None = None,
    position: int | None = None,
) -> PatientField:
    """Change a definition. The kind stays once patients have values; an option patients
    carry stays until their values change."""
    locked = PatientField.objects.select_for_update().get(pk=field.pk)
    if name is not None:
        locked.name = _name_clean(locked.clinic_id, name, exclude_pk=locked.pk)
    if kind is not None and kind != locked.kind:
        if kind not in FieldKind.values:
            raise ValidationError({"kind": [_("Choose the field's kind.")]})
        if locked.values.exists():
            raise ValidationError(
                {"kind": [_("Patients already have values of this field: its kind stays.")]}
            )
        locked.kind = kind
        if options is None:
            options = locked.options
    if options is not None or kind is not None:
        new_options = _options_clean(locked.kind, options if options is not None else [])
        removed = [o for o in locked.options if o not in new_options]
        for option in removed:
            in_use = locked.values.filter(value_text=option).exists() or any(
                option in (v or []) for v in locked.values.values_list("value_choices", flat=True)
            )
            if in_use:
                raise ValidationError(
                    {
                        "options": [
                            _(
                                "Patients still carry the option “%(option)s”: change their values first."
                            )
                            % {"option": option}
                        ]
                    }
                )
        locked.options = new_options
    if is_required is not None:
        locked.is_required = bool(is_required)
    if help_text is not None:
        locked.help_text = str(help_text).strip()[:100]
    if position is not None:
        locked.position = max(0, min(int(position), 32767))
    locked.save()
    return locked


@transaction.atomic
def field_delete(*, field: PatientField) -> None:
    """Delete a field and every patient's value of it; refused while a care plan template
    counts from it."""
    try:
        field.delete()
    except ProtectedError:
        raise ValidationError(
            _("Care plans count their steps from “%(field)s”: change those plans first.")
            % {"field": field.name}
        ) from None


def fields_reorder(*, clinic: Clinic, ids: list[int]) -> None:
    """The clinic's fields in this order (ids of other clinics are ignored)."""
    mine = {f.pk: f for f in PatientField.objects.filter(clinic=clinic)}
    ordered = [mine[i] for i in ids if i in mine]
    ordered += [f for f in mine.values() if f not in ordered]
    for position, field in enumerate(ordered):
        field.position = position
    PatientField.objects.bulk_update(ordered, ["position"])
