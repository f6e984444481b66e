from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import Membership
from patients.choices import JOURNEY
from patients.models import PatientTag


class StaffChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name}（{obj.wecom_userid}）"


class TagChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.group.name} · {obj.name}"


class ChannelCodeForm(forms.Form):
    name = forms.CharField(
        label=_("Code name"),
        max_length=60,
        help_text=_("Where the code is shown, e.g. “Consulting desk” or “Xiaohongshu post”."),
    )
    staff = StaffChoiceField(
        label=_("Receiving staff"),
        queryset=Membership.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only staff with a WeCom userid can receive contacts."),
    )
    tags = TagChoiceField(
        label=_("Tags to apply"),
        queryset=PatientTag.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    stage = forms.ChoiceField(
        label=_("Journey stage to set"),
        # Churned is where patients end up, not where a code puts them.
        choices=[("", _("Keep the patient's stage"))] + [(s.value, s.label) for s in JOURNEY],
        required=False,
    )
    welcome_text = forms.CharField(
        label=_("Welcome message"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Leave empty to send the clinic's default welcome message."),
    )
    link_title = forms.CharField(label=_("Link card title"), max_length=64, required=False)
    link_url = forms.URLField(
        label=_("Link card URL"), max_length=500, required=False, assume_scheme="https"
    )
    link_desc = forms.CharField(label=_("Link card description"), max_length=128, required=False)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff"].queryset = (
            Membership.objects.filter(clinic=clinic)
            .exclude(wecom_userid="")
            .select_related("user")
            .order_by("role", "id")
        )
        self.fields["tags"].queryset = PatientTag.objects.filter(clinic=clinic).select_related(
            "group"
        )


class WeComSettingsForm(forms.Form):
    corp_id = forms.CharField(label=_("Corp ID"), max_length=64)
    agent_id = forms.CharField(label=_("Agent ID"), max_length=32)
    secret = forms.CharField(
        label=_("App secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    callback_token = forms.CharField(
        label=_("Callback Token"),
        required=False,
        max_length=64,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    encoding_aes_key = forms.CharField(
        label=_("EncodingAESKey"),
        required=False,
        max_length=43,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    robot_key = forms.CharField(
        label=_("Group robot key"),
        required=False,
        max_length=100,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    welcome_text = forms.CharField(
        label=_("Default welcome message"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Sent to every new contact whose channel code has no welcome message of its own."
        ),
    )

    SECRETS = ("secret", "callback_token", "encoding_aes_key", "robot_key")

    def __init__(self, *args, stored=None, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.SECRETS:
            if (stored or {}).get(name):
                self.fields[name].help_text = _(
                    "Stored and never shown again. Leave empty to keep it."
                )
