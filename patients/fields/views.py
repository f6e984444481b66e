"""设置 → 患者字段 (`/patients/fields/`): the clinic's patient fields, for admins
(manage_patient_fields). The page shapes input; patients.fields.services checks and writes."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from crm.forms import form_add_service_errors
from crm.tenancy import clinic_member_required, get_for_clinic
from patients.fields import services
from patients.fields.models import CHOICE_KINDS, FieldKind, PatientField


class PatientFieldForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Field name"), max_length=30)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=FieldKind.choices)
    options = forms.CharField(
        label=gettext_lazy("Options"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("For a choice field: one option per line."),
    )
    is_required = forms.BooleanField(label=gettext_lazy("Required"), required=False)
    help_text = forms.CharField(label=gettext_lazy("Help text"), required=False, max_length=100)

    def __init__(self, *args, field=None, **kwargs):
        if field is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": field.name,
                    "kind": field.kind,
                    "options": "\n".join(field.options),
                    "is_required": field.is_required,
                    "help_text": field.help_text,
                },
            )
        super().__init__(*args, **kwargs)


def _fields(clinic):
    return PatientField.objects.filter(clinic=clinic).order_by("position", "id")


@clinic_member_required(capability="manage_patient_fields")
@require_http_methods(["GET", "POST"])
def field_list(request):
    form = PatientFieldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            field = services.field_create(clinic=request.clinic, **data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, _("Field %(name)s added.") % {"name": field.name})
            return redirect("patients:fields")
    return render(
        request,
        "patients/fields/field_list.html",
        {"form": form, "fields": _fields(request.clinic), "choice_kinds": CHOICE_KINDS},
        status=400 if form.errors else 200,
    )


@clinic_member_required(capability="manage_patient_fields")
@require_http_methods(["GET", "POST"])
def field_edit(request, pk):
    field = get_for_clinic(PatientField.objects.all(), request.clinic, pk=pk)
    form = PatientFieldForm(request.POST or None, field=field)
    if request.method == "POST" and form.is_valid():
        try:
            services.field_update(field=field, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(
                request, _("Field %(name)s saved.") % {"name": form.cleaned_data["name"]}
            )
            return redirect("patients:fields")
    return render(
        request,
        "patients/fields/field_edit.html",
        {"form": form, "field": field, "in_use": field.values.count()},
        status=400 if form.errors else 200,
    )


@clinic_member_required(capability="manage_patient_fields")
@require_POST
def field_delete(request, pk):
    field = get_for_clinic(PatientField.objects.all(), request.clinic, pk=pk)
    try:
        services.field_delete(field=field)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("patients:field_edit", pk=field.pk)
    messages.success(request, _("Field %(name)s deleted.") % {"name": field.name})
    return redirect("patients:fields")


@clinic_member_required(capability="manage_patient_fields")
@require_POST
def field_move(request, pk):
    """Up or down one place in the clinic's order."""
    field = get_for_clinic(PatientField.objects.all(), request.clinic, pk=pk)
    ids = list(_fields(request.clinic).values_list("pk", flat=True))
    index = ids.index(field.pk)
    other = index - 1 if request.POST.get("direction") == "up" else index + 1
    if 0 <= other < len(ids):
        ids[index], ids[other] = ids[other], ids[index]
        services.fields_reorder(clinic=request.clinic, ids=ids)
    return redirect("patients:fields")
