"""Form helpers shared by every app's pages."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.models import Membership, Role


def form_add_service_errors(form, error: ValidationError) -> None:
    """A service's ValidationError on the form: each field's messages on that field, the
    rest (and a plain, field-less error) above the form."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class StaffChoiceField(forms.ModelChoiceField):
    """A user picker labelled by the name people see (crm.selectors.users_with_staff_name)."""

    def label_from_instance(self, obj):
        return getattr(obj, "staff_name", None) or obj.get_username()


class StaffCreateForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    display_name = forms.CharField(label=_("Display name"), max_length=50)
    # No default: a forgotten choice must not make an administrator.
    role = forms.ChoiceField(label=_("Role"), choices=[("", "—"), *Role.choices])
    wards = forms.ModelMultipleChoiceField(label=_("Wards (nurses)"), queryset=None, required=False)
    wecom_userid = forms.CharField(label=_("WeCom userid"), max_length=64, required=False)
    password = forms.CharField(
        label=_("Initial password"), widget=forms.PasswordInput(render_value=False)
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["wards"].queryset = ward_queryset(clinic)


class StaffEditForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=50)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    wards = forms.ModelMultipleChoiceField(label=_("Wards (nurses)"), queryset=None, required=False)
    wecom_userid = forms.CharField(label=_("WeCom userid"), max_length=64, required=False)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["wards"].queryset = ward_queryset(clinic)


class PasswordResetForm(forms.Form):
    password = forms.CharField(
        label=_("New password"), widget=forms.PasswordInput(render_value=False)
    )


def ward_queryset(clinic):
    """The clinic's wards. Ward lives in `patients`, which crm does not import: reached through
    the Membership.wards relation it declares."""
    return Membership.wards.rel.related_model.objects.filter(clinic=clinic)
