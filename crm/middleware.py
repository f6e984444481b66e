"""Request guards of signing in and of the browser: session timeouts, the second factor,
and no caching of answers that may carry patient data."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

from crm import two_factor
from crm.tenancy import membership_for_request

# Paths an unverified user may still open: signing in and out, the second-factor pages, the
# language switch, static files.
SECOND_FACTOR_EXEMPT = ("/accounts/", "/i18n/", "/static/", "/admin/login/", "/admin/logout/")
# A session's last request is written at most this often (one session write a minute).
LAST_SEEN_RESOLUTION = 60


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every answer Django makes (pages, API, downloads), so no
    browser or proxy keeps a copy of patient data. Static files (WhiteNoise, before this
    middleware) keep their long cache."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)
        return response


class SessionTimeoutMiddleware:
    """End a session SESSION_IDLE_TIMEOUT after its last request, and SESSION_ABSOLUTE_TIMEOUT
    after sign-in whatever the activity."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            expired = self._expired(request)
            if expired:
                request.signout_reason = expired
                logout(request)
                if not request.path.startswith("/api/"):
                    messages.info(request, _("Your session ended. Please sign in again."))
                    return redirect_to_login(request.get_full_path())
        return self.get_response(request)

    def _expired(self, request):
        session = request.session
        now = time.time()
        signed_in_at = session.get("signed_in_at")
        last_seen_at = session.get("last_seen_at")
        if signed_in_at is None:  # a session from before these rules: it starts now
            session["signed_in_at"] = signed_in_at = now
        if now - signed_in_at > settings.SESSION_ABSOLUTE_TIMEOUT.total_seconds():
            return "expired"
        if last_seen_at is not None and now - last_seen_at > (
            settings.SESSION_IDLE_TIMEOUT.total_seconds()
        ):
            return "idle"
        if last_seen_at is None or now - last_seen_at >= LAST_SEEN_RESOLUTION:
            session["last_seen_at"] = now
        return None


# Set by wechat.signin when the clinic trusts WeCom sign-in (Clinic.wecom_signin_trusted).
WECOM_TRUSTED_SESSION_KEY = "wecom_signin_trusted"


class SecondFactorMiddleware:
    """Who must sign in with a second factor (crm.two_factor.required) reaches nothing but the
    second-factor pages until they did: pages redirect there, the API answers 403."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and not request.session.get(WECOM_TRUSTED_SESSION_KEY)
            and not request.path.startswith(SECOND_FACTOR_EXEMPT)
            and self._required(request)
        ):
            if request.path.startswith("/api/"):
                from crm.api import json_error

                return json_error(request, 403, _("Sign in with your second factor first."))
            return redirect_to_login(request.get_full_path(), reverse("two_factor"))
        return self.get_response(request)

    @staticmethod
    def _required(request):
        if request.user.is_superuser:
            return True
        membership = membership_for_request(request)  # cached: the view asks again for free
        return membership is not None and two_factor.required_for_membership(membership)
