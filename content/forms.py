from django import forms
from django.utils.translation import gettext_lazy as _

from content.surveys import SCORE_RANGE


class SurveyAnswerForm(forms.Form):
    score = forms.TypedChoiceField(coerce=int, label=_("Score"))
    comment = forms.CharField(
        label=_("Anything you would like to tell us? (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, survey, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["score"].choices = [(n, str(n)) for n in SCORE_RANGE[survey.scale]]
        self.fields["score"].error_messages["required"] = _("Please choose a score.")
