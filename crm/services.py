from django.contrib.auth import get_user_model
from django.db import transaction

# API tokens live in crm.api_tokens (hashed, expiring, audited); re-exported for callers.
from crm.api_tokens import api_token_create, api_token_revoke  # noqa: F401
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
