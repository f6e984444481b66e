"""WeCom sign-in (the sidebar's OAuth and the QR web login) and the JS-SDK signing endpoint."""

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
