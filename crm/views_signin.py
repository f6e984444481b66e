"""Pages of signing in: the second factor (enrol, verify) and the clinic's sign-in security."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from crm import signin, two_factor
from crm.models import Membership
from crm.tenancy import clinic_member_required, get_for_clinic


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=20,
        strip=True,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
    )


# The second-factor pages show no navigation: nothing behind it opens before the code.
NO_NAV = {"membership": None, "clinic": None}


def _next_url(request):
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return reverse("home")


@require_http_methods(["GET", "POST"])
@login_required
def two_factor_page(request):
    """Enrol an authenticator app (first sign-in) or enter its code (every sign-in)."""
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    ip_address = signin.client_ip(request)
    form = CodeForm(request.POST or None)
    if not two_factor.is_enrolled(user):
        device = two_factor.enrolment_device(user)
        if request.method == "POST" and form.is_valid():
            codes = two_factor.enrolment_confirm(
                user=user, device=device, token=form.cleaned_data["code"], ip_address=ip_address
            )
            if codes is not None:
                otp_login(request, device)
                return render(
                    request,
                    "crm/two_factor_codes.html",
                    {"codes": codes, "next": _next_url(request), **NO_NAV},
                )
            form.add_error("code", _("This code is not right. Enter the code the app shows now."))
        context = {
            "form": form,
            "qr_svg": mark_safe(two_factor.qr_svg(device)),  # noqa: S308 segno's own SVG
            "secret": two_factor.secret_text(device),
            "next": _next_url(request),
            **NO_NAV,
        }
        return render(request, "crm/two_factor_enrol.html", context)
    if request.method == "POST" and form.is_valid():
        device = two_factor.verify(
            user=user, token=form.cleaned_data["code"], ip_address=ip_address
        )
        if device is not None:
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error(
            "code", _("This code is not right, or was used already. Try the app's next code.")
        )
    context = {"form": form, "next": _next_url(request), **NO_NAV}
    return render(request, "crm/two_factor_verify.html", context)


@require_http_methods(["GET", "POST"])
@clinic_member_required(capability="manage_clinic")
def security_settings(request):
    """Sign-in security of the clinic: doctors' second factor, unlocking, resetting a factor."""
    clinic = request.clinic
    if request.method == "POST":
        action = request.POST.get("action")
        ip_address = signin.client_ip(request)
        if action == "doctors_second_factor":
            enabled = request.POST.get("enabled") == "1"
            two_factor.clinic_doctors_second_factor_set(
                clinic=clinic, enabled=enabled, actor=request.user, ip_address=ip_address
            )
            messages.success(
                request,
                _("Doctors now sign in with a second factor.")
                if enabled
                else _("Doctors sign in with their password only."),
            )
        elif action in ("unlock", "reset_second_factor"):
            member = get_for_clinic(
                Membership.objects.select_related("user", "clinic"),
                clinic,
                pk=request.POST.get("member"),
            )
            if action == "unlock":
                signin.signin_unlock(membership=member, actor=request.user, request=request)
                messages.success(request, _("%(name)s may sign in again.") % {"name": member.name})
            else:
                two_factor.second_factor_reset(
                    membership=member, actor=request.user, ip_address=ip_address
                )
                messages.success(
                    request,
                    _("%(name)s enrols a new authenticator at the next sign-in.")
                    % {"name": member.name},
                )
        return redirect("security_settings")
    locked = signin.locked_usernames(clinic=clinic)
    enrolled = two_factor.enrolled_user_ids(clinic=clinic)
    members = (
        Membership.objects.filter(clinic=clinic)
        .select_related("user", "clinic")
        .order_by("role", "id")
    )
    rows = [
        {
            "member": member,
            "locked": member.user.username in locked,
            "enrolled": member.user_id in enrolled,
            "required": two_factor.required_for_membership(member),
        }
        for member in members
    ]
    context = {
        "rows": rows,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    return render(request, "crm/security_settings.html", context)
