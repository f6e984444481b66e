from django import forms
from django.utils.translation import gettext_lazy as _

from doctors.models import POSITIONING_FIELDS, DoctorProfile


class PositioningForm(forms.ModelForm):
    tags = forms.CharField(
        label=_("Positioning tags"),
        required=False,
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
