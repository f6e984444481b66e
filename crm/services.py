from django.contrib.auth import get_user_model
from django.db import transaction

from crm.models import Clinic, Membership


@transaction.atomic
def staff_create(
    *,
    clinic: Clinic,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    wecom_userid: str = "",
) -> Membership:
    """A login for a clinic's staff member. Clinic admins may use Django admin, scoped."""
    user = get_user_model().objects.create_user(
        username=username, password=password, is_staff=(role == "admin")
    )
    return Membership.objects.create(
        user=user, clinic=clinic, role=role, display_name=display_name, wecom_userid=wecom_userid
    )


def api_token_create(*, membership: Membership) -> str:
    """A new API token for a staff member (replacing any old one). Shown once to the admin."""
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=membership.user).delete()
    return Token.objects.create(user=membership.user).key


def api_token_revoke(*, membership: Membership) -> bool:
    from rest_framework.authtoken.models import Token

    deleted, _ = Token.objects.filter(user=membership.user).delete()
    return bool(deleted)
