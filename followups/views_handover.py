"""/settings/staff/<pk>/deactivate/: what a leaving staff member leaves (patients, open tasks),
handed to a colleague and the login closed in one step (followups.handover, crm.services)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from crm import services as crm_services
from crm.forms import form_add_service_errors
from crm.models import Membership
from crm.selectors import staff_of
from crm.tenancy import clinic_member_required, get_for_clinic
from followups.handover import handover_list, staff_handover
from wechat.transfers import handover_transfers


class DeactivateForm(forms.Form):
    to = forms.ModelChoiceField(
        label=gettext_lazy("Hand over to"), queryset=Membership.objects.none(), required=False
    )
    wecom_resigned = forms.BooleanField(
        label=gettext_lazy("Already left WeCom (离职继承)"),
        required=False,
        help_text=gettext_lazy(
            "Their WeCom customers go to the new staff member through 离职继承; otherwise "
            "through 在职继承, and each patient may refuse within 24 hours."
        ),
    )
    message = forms.CharField(
        label=gettext_lazy("Message to the patients (在职继承)"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("At most 200 characters; empty: WeCom's default text."),
    )

    def __init__(self, *args, member, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["to"]
        field.queryset = staff_of(member.clinic, roles=[member.role]).exclude(pk=member.pk)
        field.label_from_instance = lambda m: m.name
        field.empty_label = gettext_lazy("— nobody (leave unassigned) —")


@require_http_methods(["GET", "POST"])
@clinic_member_required(capability="manage_clinic")
def staff_deactivate(request, pk):
    member = get_for_clinic(
        Membership.objects.select_related("user", "clinic"), request.clinic, pk=pk
    )
    form = DeactivateForm(request.POST if request.method == "POST" else None, member=member)
    work = handover_list(member)
    has_work = any(qs.exists() for qs in work.values())
    if request.method == "POST" and form.is_valid():
        to = form.cleaned_data["to"]
        try:
            with transaction.atomic():
                moved = None
                if to is not None:
                    moved = staff_handover(
                        membership=member,
                        to=to,
                        by=request.user,
                        wecom_resigned=form.cleaned_data["wecom_resigned"],
                        message=form.cleaned_data["message"],
                    )
                elif not member.user.is_active:
                    raise ValidationError({"to": [_("Choose who takes over.")]})
                if member.user.is_active:
                    crm_services.staff_deactivate(membership=member, by=request.user)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            if moved and moved.get("wecom"):
                messages.info(
                    request,
                    _(
                        "WeCom is asked to move their customers; the results are on the "
                        "handover page."
                    ),
                )
            if moved:
                messages.success(
                    request,
                    _(
                        "%(name)s is deactivated. %(to)s took over %(patients)s patients and "
                        "%(tasks)s open tasks."
                    )
                    % {
                        "name": member.name,
                        "to": to.name,
                        "patients": moved["doctor_patients"] + moved["assistant_patients"],
                        "tasks": moved["open_tasks"],
                    },
                )
            else:
                messages.success(request, _("%(name)s is deactivated.") % {"name": member.name})
            return redirect("staff_list")
    return render(
        request,
        "followups/staff_deactivate.html",
        {
            "member": member,
            "form": form,
            "work": work,
            "has_work": has_work,
            "transfers": handover_transfers(
                clinic_id=member.clinic_id, handover_userid=member.wecom_userid
            )[:200]
            if member.wecom_userid
            else [],
        },
        status=400 if form.errors else 200,
    )
