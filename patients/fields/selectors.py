"""The patient list's filter on the clinic's fields (PatientFilter's `field`): each
expression `<field id>:<value>`, `<id>:<from>..<to>`, `<id>:*` (has a value) or `<id>:-` (has
none) becomes a subquery on PatientFieldValue that its (field, value_*) index answers."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

from patients.fields.models import FieldKind, PatientField, PatientFieldValue
from patients.fields.services import value_clean


@dataclass(frozen=True)
class FieldCondition:
    field: PatientField
    op: str  # "eq", "range", "any", "none"
    low: object = None
    high: object = None


def field_conditions_parse(
    *, clinic_id: int | None, expressions: list[str]
) -> list[FieldCondition]:
    """The conditions, or a ValidationError naming the field (another clinic's field is one
    this clinic does not have)."""
    conditions = []
    ids = {}
    for text in expressions:
        head, sep, expr = str(text).partition(":")
        if not sep or not head.strip().isdigit() or not 0 < int(head) < 2**31:
            raise ValidationError(
                _("Write a field filter as <field id>:<value>, e.g. 3:2026-12-01..2026-12-31.")
            )
        ids[text] = int(head)
    fields = PatientField.objects.filter(pk__in=set(ids.values()))
    if clinic_id is not None:
        fields = fields.filter(clinic_id=clinic_id)
    by_id = {f.pk: f for f in fields}
    for text in expressions:
        field = by_id.get(ids[text])
        if field is None:
            raise ValidationError(_("This clinic has no patient field %(id)s.") % {"id": ids[text]})
        expr = text.partition(":")[2].strip()
        if expr == "*":
            conditions.append(FieldCondition(field, "any"))
        elif expr == "-":
            conditions.append(FieldCondition(field, "none"))
        elif ".." in expr and field.kind in (FieldKind.NUMBER, FieldKind.DATE):
            low, _sep, high = expr.partition("..")
            low, high = value_clean(field, low), value_clean(field, high)
            if low is None and high is None:
                raise ValidationError(
                    _("“%(field)s”: give the start, the end or both of the range.")
                    % {"field": field.name}
                )
            conditions.append(FieldCondition(field, "range", low, high))
        else:
            value = value_clean(field, expr)
            if value is None:
                raise ValidationError(
                    _("“%(field)s”: give the value to filter on.") % {"field": field.name}
                )
            # Multiple choice: a list; the patient carries every option given.
            conditions.append(FieldCondition(field, "eq", value))
    return conditions


_COLUMNS = {
    FieldKind.TEXT: "value_text",
    FieldKind.CHOICE: "value_text",
    FieldKind.NUMBER: "value_number",
    FieldKind.DATE: "value_date",
}


def patients_with_field_values(queryset, conditions: list[FieldCondition]):
    """`queryset` narrowed to the patients whose values meet every condition."""
    for condition in conditions:
        field = condition.field
        rows = PatientFieldValue.objects.filter(field=field)
        if condition.op == "none":
            queryset = queryset.exclude(pk__in=rows.values("patient_id"))
            continue
        if condition.op == "eq":
            if field.kind == FieldKind.CHOICES:
                rows = rows.filter(value_choices__contains=condition.low)
            else:
                rows = rows.filter(**{_COLUMNS[field.kind]: condition.low})
        elif condition.op == "range":
            column = _COLUMNS[field.kind]
            bounds = Q()
            if condition.low is not None:
                bounds &= Q(**{f"{column}__gte": condition.low})
            if condition.high is not None:
                bounds &= Q(**{f"{column}__lte": condition.high})
            rows = rows.filter(bounds)
        queryset = queryset.filter(pk__in=rows.values("patient_id"))
    return queryset
