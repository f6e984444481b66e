from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods
from knox.models import AuthToken

from crm.api_tokens import api_token_create, api_token_revoke
from crm.models import Membership, Role
from crm.tenancy import clinic_member_required, get_for_clinic, membership_for_request

# Where each role starts its day: the workbench (workspace/views.py), the dashboard
# (patients/views.py), the checklist (followups/views.py), the operations home (doctors/views.py).
ROLE_HOME = {
    Role.ADMIN: "workbench",
    Role.ASSISTANT: "workbench",
    Role.DOCTOR: "doctor_dashboard",
    Role.NURSE: "nurse_home",
    Role.OPERATIONS: "operations_home",
}


def not_found(request, exception=None):
    """404 in the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        from crm.api import json_error

        return json_error(request, 404, str(_("Not found.")))
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        from crm.api import json_error

        return json_error(
            request, 500, str(_("Something went wrong on our side. It has been logged."))
        )
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)


def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    membership = membership_for_request(request)
    if membership is None:
        if request.user.is_superuser:
            return redirect("admin:index")
        return render(request, "crm/no_clinic.html", status=403)
    return redirect(ROLE_HOME[membership.role])


@require_http_methods(["GET", "POST"])
@clinic_member_required(capability="manage_clinic")
def api_tokens(request):
    """Admins create, rotate and revoke API tokens for integrations (one per staff member).
    A new key is shown in this one answer only: the database keeps its digest."""
    new_key = None
    if request.method == "POST":
        member = get_for_clinic(
            Membership.objects.select_related("user"), request.clinic, pk=request.POST.get("member")
        )
        if request.POST.get("action") == "revoke":
            api_token_revoke(membership=member, by=request.user, request=request)
            messages.success(
                request, _("The token of %(name)s was revoked.") % {"name": member.name}
            )
        else:
            new_key = api_token_create(membership=member, by=request.user, request=request)
            messages.success(
                request,
                _("New token for %(name)s. Copy it now: it is not shown again.")
                % {"name": member.name},
            )
    members = list(
        Membership.objects.filter(clinic=request.clinic)
        .select_related("user")
        .order_by("role", "id")
    )
    tokens = {
        t.user_id: t for t in AuthToken.objects.filter(user__memberships__clinic=request.clinic)
    }
    for member in members:
        member.api_token = tokens.get(member.user_id)
    response = render(
        request,
        "crm/api_tokens.html",
        {"members": members, "new_key": new_key, "token_ttl_days": settings.API_TOKEN_TTL_DAYS},
    )
    response["Cache-Control"] = "no-store"
    return response
