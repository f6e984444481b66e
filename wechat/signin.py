"""Signing in through WeCom: an OAuth code (the sidebar's, or the QR web login's) → the
member's userid → their Membership in the clinic (Membership.wecom_userid). Never a password
inside WeCom. The second factor still applies (crm.two_factor) unless the clinic trusts
WeCom sign-in (Clinic.wecom_signin_trusted). Every sign-in and refusal is audited."""

from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.middleware import WECOM_TRUSTED_SESSION_KEY
from crm.models import AuditAction, AuditEvent, Clinic, Membership
from crm.signin import client_ip
from wechat import transport
from wechat.models import WeComAccount

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _refuse(*, clinic, request, reason, message, userid=""):
    AuditEvent.objects.create(
        clinic=clinic,
        action=AuditAction.WECOM_SIGN_IN_REFUSED,
        object_type="wecom_userid",
        object_id=userid[:50],
        detail={"reason": reason},
        ip_address=client_ip(request),
    )
    raise ValidationError(message, code=reason)


def wecom_signin(*, request, clinic: Clinic, code: str, via: str = "oauth") -> Membership:
    """Sign the member that WeCom names for `code` in. Raises ValidationError (the user's
    language) for a used, expired or unknown code, or a userid that is no member here."""
    account = WeComAccount.objects.filter(clinic=clinic).first()
    if account is None:
        raise ValidationError(_("This clinic has not connected WeCom."), code="no_account")
    if not code:
        _refuse(
            clinic=clinic,
            request=request,
            reason="no_code",
            message=_("WeCom gave no sign-in code. Open the page from WeCom again."),
        )
    try:
        userid = transport.oauth_userid(account, code=code)
    except transport.WeComError as exc:
        if exc.errcode == 40029:
            _refuse(
                clinic=clinic,
                request=request,
                reason="invalid_code",
                message=_(
                    "This WeCom sign-in link was used already or has expired. "
                    "Open the page from WeCom again."
                ),
            )
        raise ValidationError(
            _("WeCom could not be reached. Try again in a minute."), code="wecom_error"
        ) from exc
    membership = (
        Membership.objects.select_related("user", "clinic")
        .filter(clinic=clinic, wecom_userid=userid, user__is_active=True)
        .first()
        if userid
        else None
    )
    if membership is None:
        _refuse(
            clinic=clinic,
            request=request,
            reason="no_member",
            userid=userid,
            message=_(
                "Your WeCom account is not linked to a staff member of this clinic. "
                "Ask the clinic's administrator to enter your WeCom userid."
            ),
        )
    login(request, membership.user, backend=BACKEND)
    trusted = clinic.wecom_signin_trusted
    if trusted:
        request.session[WECOM_TRUSTED_SESSION_KEY] = True
    AuditEvent.objects.create(
        clinic=clinic,
        user=membership.user,
        action=AuditAction.WECOM_SIGN_IN,
        object_type="user",
        object_id=str(membership.user_id),
        detail={"wecom_userid": userid, "via": via, "trusted": trusted},
        ip_address=client_ip(request),
    )
    return membership
