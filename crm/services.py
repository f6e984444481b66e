from collections.abc import Iterable
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.audit import audit_record
from crm.capabilities import role_can
from crm.models import AuditAction, Clinic, Membership, Role


def password_check(password: str, *, user=None) -> None:
    """The clinic's password rules (AUTH_PASSWORD_VALIDATORS), as a field error on `password`.
    Every path that sets a password calls it."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc


def _staff_audit(*, membership: Membership, by, change: str, **detail) -> None:
    audit_record(
        clinic_id=membership.clinic_id,
        user=by,
        action=AuditAction.STAFF_CHANGE,
        object_type="membership",
        object_id=str(membership.pk),
        detail={"change": change, "username": membership.user.get_username(), **detail},
    )


def staff_changed(*, membership: Membership, change: str) -> None:
    """Tell the apps of settings.STAFF_CHANGE_HANDLERS (`created`, `role`, `deactivated`,
    `reactivated`): each keeps its own rows about staff (crm imports none of them)."""
    for path in settings.STAFF_CHANGE_HANDLERS:
        import_module(path).staff_changed(membership=membership, change=change)


def _wards_check(clinic_id: int, role: str, wards) -> list:
    wards = list(wards or ())
    if wards and role != Role.NURSE:
        raise ValidationError({"wards": [_("Only nurses are assigned to wards.")]})
    if any(w.clinic_id != clinic_id for w in wards):
        raise ValidationError({"wards": [_("Choose wards of this clinic.")]})
    return wards


def _wecom_userid_check(clinic_id: int, wecom_userid: str, exclude_pk=None) -> str:
    wecom_userid = (wecom_userid or "").strip()
    taken = Membership.objects.filter(clinic_id=clinic_id, wecom_userid=wecom_userid)
    if wecom_userid and taken.exclude(pk=exclude_pk).exists():
        raise ValidationError(
            {"wecom_userid": [_("Another staff member of this clinic has this WeCom userid.")]}
        )
    return wecom_userid


@transaction.atomic
def staff_create(
    *,
    clinic: Clinic,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    wecom_userid: str = "",
    wards: Iterable = (),
    by=None,
) -> Membership:
    """A login for a clinic's staff member (the staff page, seed_demo). The password follows the
    password rules; `wards` (patients.Ward rows of the clinic) only for a nurse."""
    User = get_user_model()
    username = (username or "").strip()
    if not username:
        raise ValidationError({"username": [_("Enter a username.")]})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": [_("This username is taken.")]})
    if role not in Role.values:
        raise ValidationError({"role": [_("Choose a role.")]})
    wards = _wards_check(clinic.pk, role, wards)
    wecom_userid = _wecom_userid_check(clinic.pk, wecom_userid)
    user = User(username=username, is_staff=role_can(role, "manage_clinic"))  # Django admin
    password_check(password, user=user)
    user.set_password(password)
    user.save()
    membership = Membership.objects.create(
        user=user,
        clinic=clinic,
        role=role,
        display_name=display_name.strip(),
        wecom_userid=wecom_userid,
    )
    if wards:
        membership.wards.set(wards)
    if by is not None:  # a person added them (the staff page); seed commands name nobody
        _staff_audit(membership=membership, by=by, change="created", role=role)
    staff_changed(membership=membership, change="created")
    return membership


@transaction.atomic
def staff_update(
    *,
    membership: Membership,
    by,
    role: str | None = None,
    display_name: str | None = None,
    wecom_userid: str | None = None,
    wards: Iterable | None = None,
) -> Membership:
    """Change a staff member's role, name, WeCom userid or (a nurse's) wards. A clinic keeps at
    least one active admin; leaving the nurse role leaves the wards."""
    old_role = membership.role
    if role is not None and role != old_role:
        if role not in Role.values:
            raise ValidationError({"role": [_("Choose a role.")]})
        if old_role == Role.ADMIN:
            _keep_an_admin(membership)
        membership.role = role
    if display_name is not None:
        membership.display_name = display_name.strip()
    if wecom_userid is not None:
        membership.wecom_userid = _wecom_userid_check(
            membership.clinic_id, wecom_userid, exclude_pk=membership.pk
        )
    if wards is not None or membership.role != Role.NURSE:
        wards = _wards_check(
            membership.clinic_id, membership.role, wards if wards is not None else ()
        )
        membership.wards.set(wards)
    membership.save()
    user = membership.user
    if user.is_staff != membership.can_manage_clinic and not user.is_superuser:
        user.is_staff = membership.can_manage_clinic
        user.save(update_fields=["is_staff"])
    if membership.role != old_role:
        _staff_audit(membership=membership, by=by, change="role", old=old_role, new=membership.role)
        staff_changed(membership=membership, change="role")
    else:
        _staff_audit(membership=membership, by=by, change="details")
    return membership


def _keep_an_admin(membership: Membership) -> None:
    others = Membership.objects.filter(
        clinic_id=membership.clinic_id, role=Role.ADMIN, user__is_active=True
    ).exclude(pk=membership.pk)
    if not others.exists():
        raise ValidationError({"role": [_("The clinic needs at least one active administrator.")]})


@transaction.atomic
def staff_deactivate(*, membership: Membership, by) -> Membership:
    """The staff member can no longer sign in (sessions and the API token end too). Their
    patients and tasks are handed over separately (followups.handover)."""
    if by is not None and membership.user_id == by.pk:
        raise ValidationError(_("You cannot deactivate your own account."))
    if membership.role == Role.ADMIN:
        _keep_an_admin(membership)
    from knox.models import AuthToken

    user = membership.user
    user.is_active = False
    user.save(update_fields=["is_active"])
    AuthToken.objects.filter(user=user).delete()
    _staff_audit(membership=membership, by=by, change="deactivated")
    staff_changed(membership=membership, change="deactivated")
    return membership


@transaction.atomic
def staff_reactivate(*, membership: Membership, by) -> Membership:
    user = membership.user
    user.is_active = True
    user.save(update_fields=["is_active"])
    _staff_audit(membership=membership, by=by, change="reactivated")
    staff_changed(membership=membership, change="reactivated")
    return membership


@transaction.atomic
def staff_password_reset(*, membership: Membership, password: str, by) -> Membership:
    """A new password set by an admin, under the password rules."""
    user = membership.user
    password_check(password, user=user)
    user.set_password(password)
    user.save(update_fields=["password"])
    _staff_audit(membership=membership, by=by, change="password_reset")
    return membership
