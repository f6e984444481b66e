from urllib.parse import unquote

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from crm.audit import audit_record
from crm.models import AuditAction
from patients.choices import Source, Stage
from patients.fields.selectors import field_conditions_parse, patients_with_field_values
from patients.models import Patient, PatientTag, Ward
from patients.phones import PhoneError, mask_phone, normalize_phone


def full_phone(text: str) -> str:
    """The E.164 number a search text is, or "" (a name, initials, the last four digits)."""
    digits = (text or "").strip().replace(" ", "").replace("-", "")
    if len(digits) < 7 or not digits.lstrip("+").isdigit():
        return ""
    try:
        return normalize_phone(digits)
    except PhoneError:
        return ""


def _wards(request):
    # Another clinic's ward is an invalid choice (400). Without a request (a campaign's stored
    # segment) the patients filtered are already the clinic's, so any id selects none of theirs.
    clinic = getattr(request, "clinic", None)
    return Ward.objects.filter(clinic=clinic) if clinic is not None else Ward.objects.all()


class StrictNullBooleanField(forms.NullBooleanField):
    """true/false (or 1/0, True/False), empty for "any"; anything else is an error, where
    Django's NullBooleanField reads it as "any" and the filter would silently do nothing.
    A text widget hands over the raw value (NullBooleanSelect maps unknown ones to None)."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        parsed = super().to_python(value)
        if parsed is None:
            raise forms.ValidationError(_("Enter true or false."), code="invalid")
        return parsed


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictNullBooleanField


class RepeatedTextField(forms.Field):
    """Every value of a repeated query parameter (?field=1:a&field=2:b), each text."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if value in (None, "", []):
            return []
        values = value if isinstance(value, list | tuple) else [value]
        if len(values) > 20:
            raise forms.ValidationError(_("Filter on at most 20 patient fields at once."))
        return [str(v)[:200] for v in values]


class RepeatedTextFilter(django_filters.Filter):
    field_class = RepeatedTextField


class PatientFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label=_("Name, pinyin initials or phone"))
    # Columns of the patient row: no join, so no DISTINCT (its default), which made the list's
    # COUNT and page sort every matching row over all columns.
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)
    source = django_filters.MultipleChoiceFilter(choices=Source.choices, distinct=False)
    tag = extend_schema_field(OpenApiTypes.INT)(
        django_filters.BaseInFilter(method="filter_tags", label=_("Any of these tag ids"))
    )
    tag_match = django_filters.ChoiceFilter(
        method="filter_noop",
        choices=[
            ("any", _("Any of the tags")),
            ("all", _("All of the tags")),
            ("group", _("Any within each group, all across groups")),
        ],
        label=_("How `tag` matches"),
    )
    tag_all = extend_schema_field(OpenApiTypes.INT)(
        django_filters.BaseInFilter(method="filter_all_tags", label=_("All of these tag ids"))
    )
    assigned_doctor = django_filters.NumberFilter()
    assigned_assistant = django_filters.NumberFilter()
    ward = django_filters.ModelChoiceFilter(queryset=_wards, label=_("Ward"))
    last_visit_after = django_filters.DateFilter(field_name="last_visit_date", lookup_expr="gte")
    last_visit_before = django_filters.DateFilter(field_name="last_visit_date", lookup_expr="lte")
    has_wecom = StrictBooleanFilter(method="filter_has_wecom")
    # true/false only: a choice, so any other value is a 400 (a BooleanFilter ignores it).
    has_open_followups = django_filters.ChoiceFilter(
        method="filter_has_open_followups",
        choices=[("true", _("Yes")), ("false", _("No"))],
        label=_("Has open follow-ups"),
    )

    # The clinic's patient fields (GET /api/patient-fields/), repeatable, all must match:
    # `<field id>:<value>` (text, single choice: that value; multiple choice: carries that
    # option; number, date: that value), `<id>:<from>..<to>` (number, date; either side may be
    # left out), `<id>:*` (has a value), `<id>:-` (has none).
    field = extend_schema_field(OpenApiTypes.STR)(
        RepeatedTextFilter(method="filter_fields", label=_("Patient field values"))
    )

    class Meta:
        model = Patient
        fields = []

    def __init__(self, data=None, *args, request=None, **kwargs):
        # The workbench sends its search in the X-Search header (percent-encoded UTF-8), not in
        # the URL, so names and phone numbers never reach an access log or the browser history.
        header = request.headers.get("X-Search", "") if request is not None else ""
        if header and data is not None and not data.get("q"):
            data = data.copy()
            data["q"] = unquote(header, errors="replace")[:100]
        super().__init__(data, *args, request=request, **kwargs)

    def filter_search(self, queryset, name, value):
        membership = getattr(self.request, "membership", None)
        if membership is not None and not membership.can_reveal_phone:
            phone = full_phone(value)
            if phone:
                # Roles that may not reveal a number may still find a caller by it (the
                # assistant's everyday question), and every such search is audited.
                audit_record(
                    clinic_id=membership.clinic_id,
                    user=self.request.user,
                    action=AuditAction.PHONE_SEARCH,
                    object_type="patient",
                    detail={"phone": mask_phone(phone), "path": self.request.path},
                    request=self.request,
                )
        return queryset.search(value)

    def filter_noop(self, queryset, name, value):
        return queryset  # read by filter_tags

    @staticmethod
    def _ids(value) -> set[int]:
        return {int(v) for v in value if str(v).isdigit()}

    def filter_tags(self, queryset, name, value):
        ids = self._ids(value)
        if not ids:
            return queryset
        match = self.form.cleaned_data.get("tag_match") or "any"
        if match == "all":
            return self.filter_all_tags(queryset, name, value)
        # Only existing tags are asked for: a deleted tag's id may linger in Patient.tag_ids.
        groups: dict[int, list[int]] = {}
        for tag_id, group_id in PatientTag.objects.filter(pk__in=ids).values_list("pk", "group_id"):
            groups.setdefault(group_id, []).append(tag_id)
        if match == "group":
            for tag_ids in groups.values():
                queryset = queryset.tagged_any(tag_ids)
            return queryset if groups else queryset.none()
        return queryset.tagged_any([tag_id for tag_ids in groups.values() for tag_id in tag_ids])

    def filter_all_tags(self, queryset, name, value):
        ids = self._ids(value)
        if not ids:
            return queryset
        if PatientTag.objects.filter(pk__in=ids).count() != len(ids):
            return queryset.none()  # a tag that does not exist: nobody carries it
        for tag_id in sorted(ids):
            queryset = queryset.tagged_any([tag_id])
        return queryset

    def is_valid(self):
        # The field filter's expressions need the clinic's fields: checked here, so a bad one is
        # the form's error (the API's 400, naming the field), never a failure in the query.
        valid = super().is_valid()
        clinic = getattr(self.request, "clinic", None)
        expressions = self.form.cleaned_data.get("field") if valid else None
        if expressions and clinic is not None:
            try:
                field_conditions_parse(clinic_id=clinic.pk, expressions=expressions)
            except ValidationError as exc:
                self.form.add_error("field", exc.messages)
                return False
        return valid

    def filter_fields(self, queryset, name, value):
        if not value:
            return queryset
        clinic = getattr(self.request, "clinic", None)
        try:
            conditions = field_conditions_parse(
                clinic_id=clinic.pk if clinic is not None else None, expressions=value
            )
        except ValidationError:
            # Without a request (a stored segment) the patients are the clinic's already: a
            # field it no longer has, or a value that no longer fits, selects nobody.
            return queryset.none()
        return patients_with_field_values(queryset, conditions)

    def filter_has_open_followups(self, queryset, name, value):
        return queryset.with_open_followups(present=value == "true")

    def filter_has_wecom(self, queryset, name, value):
        return (
            queryset.exclude(external_userid="") if value else queryset.filter(external_userid="")
        )
