"""Signing in: the audit of sign-ins and failures, django-axes' lockout, and unlocking.

django-axes counts failed sign-ins per username and per address (settings.AXES_*); this module
answers a locked-out sign-in in the user's language, writes the audit rows and lets a clinic
admin unlock a member of their clinic.
"""

import time

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.forms.utils import ErrorDict
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import AuditAction, AuditEvent, Membership


def client_ip(request):
    """The client's address: REMOTE_ADDR, or behind our proxy (BEHIND_PROXY) the right-most
    X-Forwarded-For entry, the one the proxy appended."""
    if request is None:
        return None
    if settings.BEHIND_PROXY:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        if forwarded and forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR")


def _membership_for_username(username):
    if not username:
        return None
    return (
        Membership.objects.select_related("clinic", "user").filter(user__username=username).first()
    )


def audit_signin(*, action, request, user=None, username="", detail=None):
    """One audit row for a sign-in event of a clinic member (others have no clinic to log to;
    django-axes keeps every attempt in its own tables)."""
    membership = (
        Membership.objects.select_related("clinic").filter(user=user).first()
        if user is not None
        else _membership_for_username(username)
    )
    if membership is None:
        return None
    return AuditEvent.objects.create(
        clinic=membership.clinic,
        user=membership.user,
        action=action,
        object_type="user",
        object_id=str(membership.user_id),
        detail={"username": membership.user.username, **(detail or {})},
        ip_address=client_ip(request),
    )


@receiver(user_logged_in, dispatch_uid="crm_audit_sign_in")
def _audit_signed_in(sender, request, user, **kwargs):
    if request is not None:
        request.session["signed_in_at"] = request.session["last_seen_at"] = time.time()
    audit_signin(action=AuditAction.SIGN_IN, request=request, user=user)


@receiver(user_logged_out, dispatch_uid="crm_audit_sign_out")
def _audit_signed_out(sender, request, user, **kwargs):
    if user is not None:
        # "idle" or "expired" when crm.middleware ended the session, else the user did.
        reason = getattr(request, "signout_reason", "signed_out")
        audit_signin(
            action=AuditAction.SIGN_OUT, request=request, user=user, detail={"reason": reason}
        )


@receiver(user_login_failed, dispatch_uid="crm_audit_sign_in_failed")
def _audit_sign_in_failed(sender, credentials, request=None, **kwargs):
    audit_signin(
        action=AuditAction.SIGN_IN_FAILED,
        request=request,
        username=credentials.get("username", ""),
    )


@receiver(user_locked_out, dispatch_uid="crm_audit_lockout")
def _audit_locked_out(sender, request, username, ip_address, **kwargs):
    audit_signin(
        action=AuditAction.LOCKOUT,
        request=request,
        username=username,
        detail={"failure_limit": settings.AXES_FAILURE_LIMIT},
    )


def lockout_message():
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return _(
        "Too many failed sign-ins: this account or address is locked for %(minutes)d minutes. "
        "Try again later, or ask your clinic's administrator to unlock it."
    ) % {"minutes": minutes}


def lockout_response(request, original_response=None, credentials=None):
    """The sign-in page again, with the lockout said plainly (429)."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, data={"username": username})
    form._errors, form.cleaned_data = ErrorDict(), {}  # shown as is, never authenticated again
    form.add_error(None, lockout_message())
    context = {"form": form, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)


# Unlocking ---------------------------------------------------------------------------------


def locked_usernames(*, clinic):
    """Usernames of `clinic`'s members that django-axes locks out now."""
    usernames = list(
        Membership.objects.filter(clinic=clinic).values_list("user__username", flat=True)
    )
    attempts = AccessAttempt.objects.filter(
        username__in=usernames, failures_since_start__gte=settings.AXES_FAILURE_LIMIT
    )
    if settings.AXES_COOLOFF_TIME:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME)
    return set(attempts.values_list("username", flat=True))


def signin_unlock(*, membership: Membership, actor, request=None) -> int:
    """Forget a member's failed sign-ins, so they may sign in at once. Audited."""
    removed = AxesProxyHandler.reset_attempts(username=membership.user.username)
    AuditEvent.objects.create(
        clinic=membership.clinic,
        user=actor,
        action=AuditAction.UNLOCK,
        object_type="user",
        object_id=str(membership.user_id),
        detail={"username": membership.user.username, "attempts_removed": removed},
        ip_address=client_ip(request),
    )
    return removed
