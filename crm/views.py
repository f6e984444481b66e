from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm.models import Role
from crm.tenancy import clinic_member_required, membership_for_request

# Where each role starts its day. The workbench and the dashboard live in patients/views.py;
# the pages left here are placeholders that later features replace.
ROLE_HOME = {
    Role.ADMIN: "workbench",
    Role.ASSISTANT: "workbench",
    Role.DOCTOR: "doctor_dashboard",
    Role.NURSE: "nurse_home",
    Role.OPERATIONS: "operations_home",
}

ROLE_PAGES = {
    "nurse_home": (_("Today's checklist"), _("The day's SOP items and follow-ups.")),
    "operations_home": (_("Operations"), _("Doctors' public accounts and content.")),
}


def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    membership = membership_for_request(request)
    if membership is None:
        if request.user.is_superuser:
            return redirect("admin:index")
        return render(request, "crm/no_clinic.html", status=403)
    return redirect(ROLE_HOME[membership.role])


def role_page(page):
    @clinic_member_required
    def view(request):
        title, subtitle = ROLE_PAGES[page]
        return render(
            request,
            "crm/role_home.html",
            {"title": title, "subtitle": subtitle, "api_patients": reverse("api:patient-list")},
        )

    view.__name__ = f"{page}_page"
    return view
