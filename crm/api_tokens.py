"""API tokens for integrations (django-rest-knox): only a SHA-512 digest is stored, a token
expires after API_TOKEN_TTL_DAYS, and the key is shown once, when it is made. One token per
staff member: making a new one (rotating) revokes the old. Every change is audited."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework import exceptions

from crm.audit import audit_record
from crm.models import AuditAction, Membership


class HashedTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; a key that is not even text is refused, not a 500."""

    def authenticate_credentials(self, token):
        try:
            token.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from exc
        return super().authenticate_credentials(token)


class HashedTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for it: the `Authorization: Token <key>` header, as before."""

    target_class = HashedTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Token"
        )


def api_token_for(membership: Membership) -> AuthToken | None:
    """The member's live token (its digest, key prefix, created and expiry), or None."""
    return AuthToken.objects.filter(user_id=membership.user_id).order_by("-created").first()


@transaction.atomic
def api_token_create(*, membership: Membership, by=None, request=None) -> str:
    """A new token for a staff member, replacing any old one. The key is returned once: only
    its digest is kept."""
    replaced = AuthToken.objects.filter(user_id=membership.user_id).delete()[0]
    token, key = AuthToken.objects.create(
        user=membership.user, expiry=timedelta(days=settings.API_TOKEN_TTL_DAYS)
    )
    audit_record(
        clinic_id=membership.clinic_id,
        user=by,
        action=AuditAction.API_TOKEN,
        object_type="membership",
        object_id=membership.pk,
        detail={
            "event": "rotated" if replaced else "created",
            "token_key": token.token_key[:8],
            "expiry": token.expiry.isoformat(),
        },
        request=request,
    )
    return key


@transaction.atomic
def api_token_revoke(*, membership: Membership, by=None, request=None) -> bool:
    deleted = AuthToken.objects.filter(user_id=membership.user_id).delete()[0]
    if deleted:
        audit_record(
            clinic_id=membership.clinic_id,
            user=by,
            action=AuditAction.API_TOKEN,
            object_type="membership",
            object_id=membership.pk,
            detail={"event": "revoked"},
            request=request,
        )
    return bool(deleted)
