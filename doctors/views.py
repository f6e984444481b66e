"""Doctor IP pages. Thin: the lists and figures come from /api/ (doctors/api.py); forms here
call the same services."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm.audit import audit_record
from crm.models import AuditAction, Role
from crm.tenancy import clinic_member_required, get_for_clinic
from doctors import selectors, selectors_home, services
from doctors.forms import PositioningForm, PostForm
from doctors.models import (
    POSITIONING_FIELDS,
    Onboarding,
    Platform,
    Post,
    PostFormat,
    PostStatus,
    PublicAccount,
    RecruitmentSource,
)
from patients.models import PatientTag
from wechat import demo as wechat_demo


def _profiles(request):
    return selectors.profiles_visible_to(membership=request.membership)


def _posts(request):
    """Posts of the doctors the member sees: who may plan a post may change it."""
    return Post.objects.filter(account__doctor__in=_profiles(request)).select_related(
        "account__doctor__user", "channel_code"
    )


def _next_or(request, default: str) -> str:
    """Where to go after a change: the page that linked here (?next=), if it is ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


@clinic_member_required(capability="manage_doctor_ip")
def operations_home(request):
    """Operations' morning page: this week's posts per doctor, campaigns on their way,
    drafts (and those a red line blocks), unfinished onboarding."""
    home = selectors_home.operations_home(clinic=request.clinic)
    return render(request, "doctors/operations_home.html", {"home": home, "section": "home"})


@clinic_member_required(capability="see_doctor_ip")
def doctors(request):
    profiles = list(_profiles(request))
    if request.membership.role == Role.DOCTOR and profiles:
        return redirect("doctors:profile", pk=profiles[0].pk)
    for profile in profiles:
        profile.display = selectors.doctor_name(profile)
    return render(
        request, "doctors/doctors_page.html", {"profiles": profiles, "section": "doctors"}
    )


@clinic_member_required(capability="see_doctor_ip")
@require_http_methods(["GET", "POST"])
def profile(request, pk):
    profile = get_for_clinic(_profiles(request), request.clinic, pk=pk)
    form = PositioningForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        services.positioning_save(profile=profile, by=request.user, **form.cleaned_data)
        messages.success(request, _("Positioning saved as a new version."))
        return redirect("doctors:profile", pk=profile.pk)
    context = {
        "profile": profile,
        "name": selectors.doctor_name(profile),
        "form": form,
        "versions": profile.versions.select_related("by")[:10],
        "fields": POSITIONING_FIELDS,
        "platforms": Platform.choices,
        "section": "doctors",
    }
    return render(request, "doctors/profile_page.html", context)


@clinic_member_required(capability="see_doctor_ip")
def funnel(request, pk):
    profile = get_for_clinic(_profiles(request), request.clinic, pk=pk)
    context = {
        "profile": profile,
        "name": selectors.doctor_name(profile),
        "versions": profile.versions.select_related("by")[:10],
        "section": "doctors",
    }
    return render(request, "doctors/funnel_page.html", context)


@clinic_member_required(capability="see_doctor_ip")
def calendar(request):
    profiles = list(_profiles(request))
    for row in profiles:
        row.display = selectors.doctor_name(row)
    context = {
        "profiles": profiles,
        "formats": PostFormat.choices,
        "statuses": PostStatus.choices,
        "tags": PatientTag.objects.filter(clinic=request.clinic).select_related("group"),
        "can_make_codes": request.membership.can_manage_doctor_ip,
        "demo": wechat_demo.demo_enabled(),
        "section": "calendar",
    }
    return render(request, "doctors/calendar_page.html", context)


@clinic_member_required(capability="see_doctor_ip")
@require_http_methods(["GET", "POST"])
def post_edit(request, pk):
    post = get_for_clinic(_posts(request), request.clinic, pk=pk)
    accounts = PublicAccount.objects.filter(
        clinic=request.clinic, doctor__in=_profiles(request)
    ).order_by("doctor", "platform", "id")
    tags = PatientTag.objects.filter(clinic=request.clinic).select_related("group")
    form = PostForm(request.POST or None, post=post, accounts=accounts, tags=tags)
    back = _next_or(request, reverse("doctors:calendar"))
    if request.method == "POST" and form.is_valid():
        try:
            services.post_save(clinic=request.clinic, instance=post, **form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("“%(topic)s” saved.") % {"topic": post.topic})
            return redirect(back)
    context = {
        "post": post,
        "doctor": selectors.doctor_name(post.account.doctor),
        "form": form,
        "back": back,
        "section": "calendar",
    }
    return render(request, "doctors/post_edit_page.html", context)


@require_POST
@clinic_member_required(capability="see_doctor_ip")
def post_delete(request, pk):
    post = get_for_clinic(_posts(request), request.clinic, pk=pk)
    back = _next_or(request, reverse("doctors:calendar"))
    try:
        services.post_delete(post=post)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        edit = reverse("doctors:post_edit", args=[post.pk])
        return redirect(f"{edit}?{urlencode({'next': back})}")
    messages.success(request, _("“%(topic)s” deleted.") % {"topic": post.topic})
    return redirect(back)


@require_POST
@clinic_member_required(capability="manage_doctor_ip")
def post_simulate(request, pk):
    """Demo only: the fake WeCom pushes a scan of the post's code (as 模拟扫码 does)."""
    post = get_for_clinic(Post.objects.select_related("channel_code"), request.clinic, pk=pk)
    if post.channel_code is None:
        raise Http404
    try:
        result = wechat_demo.demo_scan(code=post.channel_code)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if result.get("status") == 200:
            messages.success(
                request,
                _("A simulated patient scanned the code of “%(topic)s”.") % {"topic": post.topic},
            )
        else:
            messages.error(
                request,
                _("CareLoop refused the simulated callback (HTTP %(status)s).")
                % {"status": result.get("status")},
            )
    return redirect(reverse("doctors:calendar") + f"?scanned={post.pk}")


@clinic_member_required(capability="manage_doctor_ip")
def onboarding(request):
    profiles = list(_profiles(request))
    for row in profiles:
        row.display = selectors.doctor_name(row)
    context = {
        "profiles": profiles,
        "sources": RecruitmentSource.choices,
        "names": {row.pk: row.display for row in profiles},
        "source_labels": {value: str(label) for value, label in RecruitmentSource.choices},
        "section": "onboarding",
    }
    return render(request, "doctors/onboarding_page.html", context)


@clinic_member_required(capability="manage_doctor_ip")
def licence(request, pk):
    """The licence photo, to operations and admins of the clinic only (never a public URL)."""
    row = get_for_clinic(Onboarding.objects.all(), request.clinic, pk=pk)
    if not row.licence_file:
        raise Http404
    audit_record(
        clinic_id=row.clinic_id,
        user=request.user,
        action=AuditAction.LICENCE_DOWNLOAD,
        object_type="onboarding",
        object_id=row.pk,
        detail={"profile": row.profile_id},
        request=request,
    )
    response = FileResponse(row.licence_file.open("rb"), as_attachment=False)
    response["Cache-Control"] = "no-store"
    return response
