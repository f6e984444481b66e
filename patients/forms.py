"""The patient pages' forms: add a patient, edit the profile, pick the record to merge.
They shape the input; patients.services checks and writes (the same rules as the API)."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from crm.idempotency import new_token
from crm.models import Role
from patients import selectors
from patients.choices import Gender, Source
from patients.editing import patient_editable_fields
from patients.fields.models import FieldKind
from patients.fields.services import clinic_fields, value_text, values_of
from patients.services import NOTES_MAX_LENGTH

# Which roles the doctor and assistant pickers offer.
PICKER_ROLES = {"assigned_doctor": (Role.DOCTOR,), "assigned_assistant": (Role.ASSISTANT,)}


class StaffChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, names=None, **kwargs):
        self.names = names or {}
        super().__init__(*args, **kwargs)

    def label_from_instance(self, user):
        return self.names.get(user.pk) or user.get_full_name() or user.get_username()


class PatientForm(forms.Form):
    """The new-patient and edit-profile form. On edit, the fields the staff member may not
    change (patients.editing) are shown disabled and never submitted."""

    form_token = forms.CharField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label=_("Name"), max_length=50)
    phone = forms.CharField(label=_("Mobile phone"), required=False, max_length=30)
    gender = forms.ChoiceField(
        label=_("Gender"), choices=[("", "—"), *Gender.choices], required=False
    )
    birth_date = forms.DateField(
        label=_("Birth date"),
        required=False,
        # <input type=date> takes ISO dates only, whatever the language.
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    ward = forms.ModelChoiceField(label=_("Ward"), queryset=None, required=False)
    bed_number = forms.CharField(label=_("Bed number"), required=False, max_length=20)
    assigned_doctor = StaffChoiceField(label=_("Doctor"), queryset=None, required=False)
    assigned_assistant = StaffChoiceField(label=_("Assistant"), queryset=None, required=False)
    source = forms.ChoiceField(label=_("Source"), choices=Source.choices, initial=Source.WALK_IN)
    source_detail = forms.CharField(label=_("Source detail"), required=False, max_length=100)
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        # No maxlength attribute: a browser would cut pasted text silently. The counter shows
        # the limit; the service refuses longer text.
        widget=forms.Textarea(attrs={"rows": 3, "data-limit": NOTES_MAX_LENGTH}),
        help_text=_("At most %(max)s characters.") % {"max": NOTES_MAX_LENGTH},
    )
    consent_to_contact = forms.BooleanField(
        label=_("Consents to be contacted (WeCom messages, calls)"), required=False, initial=True
    )

    def __init__(self, *args, membership, patient=None, **kwargs):
        if patient is not None:
            kwargs.setdefault("initial", self.initial_for(patient))
        super().__init__(*args, **kwargs)
        self.membership, self.patient = membership, patient
        clinic = membership.clinic
        names = dict(clinic.memberships.values_list("user_id", "display_name"))
        users = get_user_model().objects.filter(is_active=True).order_by("id")
        for field, roles in PICKER_ROLES.items():
            self.fields[field].queryset = users.filter(
                memberships__clinic=clinic, memberships__role__in=roles
            )
            self.fields[field].names = names
        self.fields["ward"].queryset = selectors.wards_visible_to(membership)
        for name in ("ward", *PICKER_ROLES):
            self.fields[name].empty_label = "—"
        if membership.role == Role.NURSE:
            self.fields["ward"].required = True
            self.fields["ward"].empty_label = None
        if patient is None:
            self.fields["form_token"].initial = new_token()
        else:
            del self.fields["form_token"]
            editable = patient_editable_fields(membership)
            for name, field in self.fields.items():
                if name not in editable:
                    field.disabled = True
            if patient.phone_masked:
                self.fields["phone"].help_text = _(
                    "Now %(masked)s. Leave empty to keep it; enter a new number to change it."
                ) % {"masked": patient.phone_masked}
        self.fields["phone"].widget.attrs.update({"inputmode": "tel", "autocomplete": "off"})
        self._add_custom_fields(clinic, membership, patient)

    def _add_custom_fields(self, clinic, membership, patient) -> None:
        """The clinic's own fields (手术日期 …) as `field_<id>`, in their order. Checked by the
        service (each message names the field), so the form takes text for every kind."""
        self.custom_fields = clinic_fields(clinic.pk)
        values = values_of([patient.pk], self.custom_fields).get(patient.pk, {}) if patient else {}
        may_edit = membership.can("edit_patient_fields")
        for field in self.custom_fields:
            label = f"{field.name} *" if field.is_required else field.name
            common = {"label": label, "required": False, "help_text": field.help_text}
            value = values.get(field.pk)
            if field.kind == FieldKind.CHOICE:
                form_field = forms.ChoiceField(
                    choices=[("", "—"), *((o, o) for o in field.options)], **common
                )
            elif field.kind == FieldKind.CHOICES:
                form_field = forms.MultipleChoiceField(
                    choices=[(o, o) for o in field.options],
                    widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
                    **common,
                )
            elif field.kind == FieldKind.DATE:
                form_field = forms.CharField(
                    widget=forms.DateInput(attrs={"type": "date"}), **common
                )
                value = value.isoformat() if value else ""
            elif field.kind == FieldKind.NUMBER:
                form_field = forms.CharField(
                    widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common
                )
                value = value_text(field, value)
            else:
                form_field = forms.CharField(max_length=500, **common)
            form_field.disabled = not may_edit
            form_field.initial = (
                value if value is not None else ("" if field.kind != FieldKind.CHOICES else [])
            )
            self.fields[field.param] = form_field

    @property
    def custom_field_names(self) -> list:
        return [self[f.param] for f in self.custom_fields]

    def custom_values(self) -> dict:
        """{field: raw value} of the clinic's fields the member may change."""
        return {
            f: self.cleaned_data.get(f.param)
            for f in self.custom_fields
            if not self.fields[f.param].disabled
        }

    @staticmethod
    def initial_for(patient) -> dict:
        return {
            "name": patient.name,
            "gender": patient.gender,
            "birth_date": patient.birth_date,
            "ward": patient.ward_id,
            "bed_number": patient.bed_number,
            "assigned_doctor": patient.assigned_doctor_id,
            "assigned_assistant": patient.assigned_assistant_id,
            "source": patient.source,
            "source_detail": patient.source_detail,
            "notes": patient.notes,
            "consent_to_contact": patient.consent_to_contact,
        }

    def service_fields(self) -> dict:
        """The cleaned input as the services' keyword arguments. On edit, the disabled fields
        keep the record's values (so they do not count as changes) and an empty phone keeps
        the number."""
        data = dict(self.cleaned_data)
        data.pop("form_token", None)
        for field in self.custom_fields:
            data.pop(field.param, None)
        if self.patient is not None:
            for name, field in self.fields.items():
                if field.disabled and name in data:
                    data.pop(name, None)
            if not data.get("phone"):
                data.pop("phone", None)
        for key in ("gender", "bed_number", "source_detail", "notes"):
            if key in data and data[key] is None:
                data[key] = ""
        return data


class MergeSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Find the other record"),
        required=False,
        max_length=50,
        help_text=_("Name, pinyin initials, last 4 digits or the full phone number"),
    )
