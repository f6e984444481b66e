"""WeCom sign-in (the sidebar's OAuth and the QR web login) and the JS-SDK signing endpoint."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from crm.models import Clinic
from crm.tenancy import clinic_member_required
from wechat import jssdk, signin, transport
from wechat.models import WeComAccount


def _next(request):
    url = request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return reverse("home")


@require_GET
def oauth_return(request, slug):
    """WeCom redirects here with ?code=… after OAuth (sidebar) or the QR web login."""
    clinic = get_object_or_404(Clinic, slug=slug)
    via = "qr" if request.GET.get("via") == "qr" else "oauth"
    try:
        signin.wecom_signin(
            request=request, clinic=clinic, code=request.GET.get("code", ""), via=via
        )
    except ValidationError as exc:
        context = {"message": exc.messages[0], "membership": None, "clinic": None}
        return render(request, "wechat/signin_error.html", context, status=400)
    return redirect(_next(request))


@require_GET
def qr_login(request):
    """The login page's "Log in with WeCom": off to WeCom's QR page for the clinic's app;
    WeCom returns the scanned member's code to oauth_return (via=qr)."""
    clinic = Clinic.objects.filter(slug=request.GET.get("clinic", "").strip()).first()
    account = WeComAccount.objects.filter(clinic=clinic).first() if clinic else None
    if account is None:
        message = _("No clinic with this code uses WeCom sign-in. Check the clinic code.")
        context = {"message": message, "membership": None, "clinic": None}
        return render(request, "wechat/signin_error.html", context, status=400)
    back = reverse("wechat:oauth_return", args=[clinic.slug])
    back = request.build_absolute_uri(back) + "?" + urlencode({"via": "qr", "next": _next(request)})
    params = {
        "login_type": "CorpApp",
        "appid": account.corp_id,
        "agentid": account.agent_id,
        "redirect_uri": back,
        "state": "careloop",
    }
    return redirect(settings.WECOM_SSO_URL + "?" + urlencode(params))


@require_GET
@login_required
@clinic_member_required()
def jssdk_config(request):
    """wx.config and wx.agentConfig's signed parameters for the page at ?url=…"""
    url = request.GET.get("url", "")
    if not url.startswith(("http://", "https://")):
        return JsonResponse({"message": _("Give the page's full URL.")}, status=400)
    account = WeComAccount.objects.filter(clinic=request.clinic).first()
    if account is None:
        return JsonResponse({"message": _("This clinic has not connected WeCom.")}, status=400)
    try:
        return JsonResponse(jssdk.config_for(account, url=url))
    except transport.WeComError:
        return JsonResponse(
            {"message": _("WeCom could not be reached. Try again in a minute.")}, status=502
        )


@require_GET
def sidebar(request, slug):
    """The chat sidebar. A member not signed in goes through WeCom's OAuth (never a password
    inside WeCom) and comes back signed in."""
    clinic = get_object_or_404(Clinic, slug=slug)
    if not request.user.is_authenticated:
        account = WeComAccount.objects.filter(clinic=clinic).first()
        if account is None:
            context = {"message": _("This clinic has not connected WeCom."), "membership": None}
            return render(request, "wechat/signin_error.html", {**context, "clinic": None}, 400)
        back = (
            reverse("wechat:oauth_return", args=[slug])
            + "?"
            + urlencode({"next": request.get_full_path()})
        )
        params = {
            "appid": account.corp_id,
            "redirect_uri": request.build_absolute_uri(back),
            "response_type": "code",
            "scope": "snsapi_base",
            "state": "sidebar",
            "agentid": account.agent_id,
        }
        return redirect(settings.WECOM_OAUTH_URL + "?" + urlencode(params) + "#wechat_redirect")
    return _sidebar_page(request)


@clinic_member_required()
def _sidebar_page(request):
    return render(request, "wechat/sidebar.html")


@require_GET
@clinic_member_required()
def sidebar_contact(request):
    """The patient of the clinic that the chat's external contact is, or none."""
    from patients.models import Patient

    external = request.GET.get("external_userid", "").strip()
    patient = (
        Patient.objects.filter(clinic=request.clinic, external_userid=external).first()
        if external
        else None
    )
    return JsonResponse({"patient": patient.pk if patient else None})
