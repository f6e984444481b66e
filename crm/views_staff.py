"""/settings/staff/: clinic admins add staff members, change their role, name and wards, and reset
passwords. Deactivating (with the handover of patients and tasks) is followups/views_handover.py.
The rules are in crm.services; these views only read forms and show errors."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm import services
from crm.forms import PasswordResetForm, StaffCreateForm, StaffEditForm, form_add_service_errors
from crm.models import Membership
from crm.selectors import staff_of
from crm.tenancy import clinic_member_required, get_for_clinic


def _member(request, pk):
    return get_for_clinic(
        Membership.objects.select_related("user").prefetch_related("wards"), request.clinic, pk=pk
    )


@require_http_methods(["GET", "POST"])
@clinic_member_required(capability="manage_clinic")
def staff_list(request):
    # A WeCom directory proposal (wechat.directory) opens this page prefilled.
    initial = {k: request.GET.get(k, "")[:64] for k in ("wecom_userid", "display_name")}
    form = StaffCreateForm(
        request.POST if request.method == "POST" else None, clinic=request.clinic, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            member = services.staff_create(
                clinic=request.clinic, by=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            form_add_service_errors(form, exc)
        else:
            messages.success(request, _("%(name)s can now sign in.") % {"name": member.name})
            return redirect("staff_list")
    members = staff_of(request.clinic, active=False).prefetch_related("wards")
    status = 400 if form.errors else 200
    return render(request, "crm/staff_list.html", {"members": members, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@clinic_member_required(capability="manage_clinic")
def staff_detail(request, pk):
    member = _member(request, pk)
    initial = {
        "display_name": member.display_name,
        "role": member.role,
        "wecom_userid": member.wecom_userid,
        "wards": list(member.wards.all()),
    }
    edit = StaffEditForm(
        request.POST if request.POST.get("form") == "edit" else None,
        initial=initial,
        clinic=request.clinic,
    )
    password = PasswordResetForm(request.POST if request.POST.get("form") == "password" else None)
    if request.method == "POST":
        if edit.is_bound and edit.is_valid():
            try:
                services.staff_update(membership=member, by=request.user, **edit.cleaned_data)
            except ValidationError as exc:
                form_add_service_errors(edit, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("staff_detail", pk=member.pk)
        elif password.is_bound and password.is_valid():
            try:
                services.staff_password_reset(
                    membership=member, by=request.user, **password.cleaned_data
                )
            except ValidationError as exc:
                form_add_service_errors(password, exc)
            else:
                messages.success(
                    request, _("New password set for %(name)s.") % {"name": member.name}
                )
                return redirect("staff_detail", pk=member.pk)
        elif request.POST.get("form") == "reactivate":
            services.staff_reactivate(membership=member, by=request.user)
            messages.success(request, _("%(name)s can sign in again.") % {"name": member.name})
            return redirect("staff_detail", pk=member.pk)
    status = 400 if (edit.errors or password.errors) else 200
    return render(
        request,
        "crm/staff_detail.html",
        {"member": member, "edit": edit, "password": password},
        status=status,
    )
