"""Forms of the template editor. They check shape; the services check the rules."""

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import Role
from followups.models import Action, Anchor, CarePlanTemplate, Outcome, Trigger
from followups.step_links import step_article_choices, step_link_choices
from patients.choices import Stage
from patients.fields.models import FieldKind, PatientField
from patients.models import PatientTag, Visit


def _bootstrap(form):
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select form-select-sm")
        else:
            widget.attrs.setdefault("class", "form-control form-control-sm")


class TemplateForm(forms.Form):
    name = forms.CharField(label=_("Template name"), max_length=100)
    trigger = forms.ChoiceField(label=_("Starts when"), choices=Trigger.choices)
    trigger_tag = forms.ModelChoiceField(
        label=_("Tag"), queryset=PatientTag.objects.none(), required=False
    )
    trigger_stage = forms.ChoiceField(
        label=_("Stage"), choices=[("", "—"), *Stage.choices], required=False
    )
    trigger_visit_kind = forms.ChoiceField(
        label=_("Visit kind"), choices=[("", _("Any")), *Visit.Kind.choices], required=False
    )
    anchor = forms.ChoiceField(label=_("Steps count from"), choices=Anchor.choices)
    anchor_field = forms.ModelChoiceField(
        label=_("Patient date field"),
        queryset=PatientField.objects.none(),
        required=False,
        help_text=_("With “A date field of the patient”: e.g. 手术日期 (D+1 after it)."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trigger_tag"].queryset = PatientTag.objects.filter(clinic=clinic)
        self.fields["anchor_field"].queryset = PatientField.objects.filter(
            clinic=clinic, kind=FieldKind.DATE
        )
        _bootstrap(self)


class StepForm(forms.Form):
    title = forms.CharField(label=_("Step"), max_length=200, required=False)
    offset_days = forms.IntegerField(label=_("Day"), initial=0, required=False)
    action = forms.ChoiceField(label=_("Action"), choices=Action.choices, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=[("", "—"), *Role.choices], required=False)
    message = forms.CharField(
        label=_("Message to the patient"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 1}),
        help_text=_("Variables: {name}, {clinic}, {date}, {doctor}"),
    )
    window_start = forms.CharField(
        label=_("Start time"), initial="09:00", max_length=5, required=False
    )
    window_end = forms.CharField(label=_("End time"), initial="18:00", max_length=5, required=False)
    start_template = forms.ModelChoiceField(
        label=_("Plan it starts"), queryset=CarePlanTemplate.objects.none(), required=False
    )
    # A survey step's survey (its tracked link fills {链接}); empty: the newest active one.
    survey_id = forms.ChoiceField(label=_("Survey it sends"), required=False)
    # A message or re-exam step's article (its tracked link fills {链接}, or is appended).
    article_id = forms.ChoiceField(label=_("Article it links"), required=False)
    # A checklist item may ask for a value when ticked (followups.checklist_values).
    value_kind = forms.ChoiceField(
        label=_("Value to record"),
        choices=[("", "—"), ("number", _("A number")), ("blood_pressure", _("Blood pressure"))],
        required=False,
    )
    value_label = forms.CharField(label=_("Value name"), max_length=20, required=False)
    value_unit = forms.CharField(label=_("Unit"), max_length=10, required=False)
    value_min = forms.DecimalField(label=_("Lowest"), required=False, max_digits=8)
    value_max = forms.DecimalField(label=_("Highest"), required=False, max_digits=8)

    def __init__(self, *args, clinic=None, **kwargs):
        super().__init__(*args, **kwargs)
        if clinic is not None:
            self.fields["start_template"].queryset = CarePlanTemplate.objects.filter(clinic=clinic)
        self.fields["survey_id"].choices = [("", "—")] + (
            step_link_choices(Action.SURVEY, clinic=clinic) if clinic is not None else []
        )
        self.fields["article_id"].choices = [("", "—")] + (
            step_article_choices(clinic=clinic) if clinic is not None else []
        )
        _bootstrap(self)

    def step(self) -> dict | None:
        data = self.cleaned_data
        if not data or not (data.get("title") or "").strip():
            return None
        template = data.get("start_template")
        return {
            "title": data["title"],
            "offset_days": data.get("offset_days") if data.get("offset_days") is not None else 0,
            "action": data.get("action") or "",
            "role": data.get("role") or "",
            "message": data.get("message") or "",
            "window_start": data.get("window_start") or "09:00",
            "window_end": data.get("window_end") or "18:00",
            "start_template_id": template.pk if template else None,
            "survey_id": data.get("survey_id") or None,
            "article_id": data.get("article_id") or None,
            "value": {
                "kind": data["value_kind"],
                "label": data.get("value_label") or "",
                "unit": data.get("value_unit") or "",
                "min": data.get("value_min"),
                "max": data.get("value_max"),
            }
            if data.get("value_kind")
            else None,
        }


StepFormSet = forms.formset_factory(StepForm, extra=2)


class CompleteForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("", ""), *Outcome.choices], required=False
    )
    notes = forms.CharField(label=_("Notes"), required=False, max_length=2000)
    # <input type="datetime-local">, in clinic time (TIME_ZONE).
    callback_at = forms.DateTimeField(
        label=_("Callback time"), required=False, input_formats=["%Y-%m-%dT%H:%M"]
    )


class TickForm(forms.Form):
    value = forms.CharField(label=_("Value"), required=False, max_length=50)


class FollowUpSettingsForm(forms.Form):
    call_attempts = forms.IntegerField(label=_("call attempts"))
    call_retry_hours = forms.IntegerField(label=_("hours between call attempts"))
