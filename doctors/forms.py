from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.forms import form_add_service_errors
from doctors.models import (
    POSITIONING_FIELDS,
    DoctorProfile,
    Post,
    PostFormat,
    PostStatus,
    PublicAccount,
)
from patients.models import PatientTag


class PositioningForm(forms.ModelForm):
    tags = forms.CharField(
        label=_("Positioning tags"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Separated by commas, e.g. 甲状腺, 耐心, 科普达人"),
    )

    class Meta:
        model = DoctorProfile
        fields = list(POSITIONING_FIELDS)
        widgets = {field: forms.Textarea(attrs={"rows": 2}) for field in POSITIONING_FIELDS}

    def __init__(self, *args, instance=None, **kwargs):
        super().__init__(*args, instance=instance, **kwargs)
        if instance is not None and not self.is_bound:
            self.initial["tags"] = ", ".join(instance.tags)

    def clean_tags(self):
        return self.cleaned_data["tags"]


class PostForm(forms.Form):
    """A post of the calendar. Shape only: the rules (dates, red lines, channel codes) are
    post_save's, and its errors are shown on these fields."""

    account = forms.ModelChoiceField(label=_("Account"), queryset=PublicAccount.objects.none())
    topic = forms.CharField(label=_("Topic"), max_length=100)
    format = forms.ChoiceField(label=_("Format"), choices=PostFormat.choices)
    status = forms.ChoiceField(label=_("Status"), choices=PostStatus.choices)
    publish_date = forms.DateField(
        label=_("Publish date"),
        required=False,
        # An <input type="date"> takes ISO dates only, whatever the language's date format.
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    disease_tag = forms.ModelChoiceField(
        label=_("Disease tag"), queryset=PatientTag.objects.none(), required=False
    )
    cost = forms.DecimalField(
        label=_("Cost (yuan)"), max_digits=10, decimal_places=2, required=False
    )
    script = forms.CharField(
        label=_("Script"), required=False, widget=forms.Textarea(attrs={"rows": 5})
    )

    def __init__(self, *args, post: Post, accounts, tags, **kwargs):
        initial = {
            "account": post.account_id,
            "topic": post.topic,
            "format": post.format,
            "status": post.status,
            "publish_date": post.publish_date,
            "disease_tag": post.disease_tag_id,
            "cost": post.cost,
            "script": post.script,
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.fields["account"].queryset = accounts
        self.fields["disease_tag"].queryset = tags
        self.fields["disease_tag"].label_from_instance = lambda tag: (
            f"{tag.group.name} · {tag.name}" if tag.group_id else tag.name
        )

    def add_service_errors(self, error: ValidationError) -> None:
        """A service's ValidationError on the fields it names, the rest above the form."""
        form_add_service_errors(self, error)
