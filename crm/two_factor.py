"""The second factor: who needs one, enrolling a TOTP app, recovery codes (django-otp).

Clinic admins and superusers always sign in with a second factor; doctors too when their
clinic turns `Clinic.doctors_need_second_factor` on. A user enrols at their first sign-in: a
TOTP secret (QR code and text), confirmed with one code, then ten one-time recovery codes.
"""

from base64 import b32encode

import segno
from django.conf import settings
from django.db import transaction
from django_otp import devices_for_user, match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import AuditAction, AuditEvent, Membership, Role

TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery"


def required(user) -> bool:
    if user.is_superuser:
        return True
    membership = Membership.objects.select_related("clinic").filter(user=user).first()
    return membership is not None and required_for_membership(membership)


def required_for_membership(membership: Membership) -> bool:
    if membership.role == Role.ADMIN:
        return True
    return membership.role == Role.DOCTOR and membership.clinic.doctors_need_second_factor


def is_enrolled(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def enrolled_user_ids(*, clinic) -> set[int]:
    return set(
        TOTPDevice.objects.filter(user__memberships__clinic=clinic, confirmed=True).values_list(
            "user_id", flat=True
        )
    )


def enrolment_device(user) -> TOTPDevice:
    """The unconfirmed TOTP device being enrolled (the same secret until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name=TOTP_NAME).first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def second_factor_enrol_demo(*, user, key: str) -> TOTPDevice:
    """Demo only (seed_demo): an authenticator with a published secret, so the demo admin can
    sign in without enrolling a phone first."""
    return TOTPDevice.objects.create(user=user, name=TOTP_NAME, key=key, confirmed=True)


def current_code(device: TOTPDevice) -> str:
    """The code an authenticator app shows now for `device` (the demo's `totp_code` command)."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def secret_text(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an SVG QR code, made here (no outside service sees the secret)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#000")


@transaction.atomic
def enrolment_confirm(*, user, device: TOTPDevice, token: str, ip_address=None):
    """Confirm an enrolment with a code from the app. Returns the new recovery codes, or None
    when the code is wrong. Any older authenticator of the user is replaced."""
    if device.confirmed or device.user_id != user.pk or not device.verify_token(token):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = recovery_codes_create(user=user)
    _audit(user, {"event": "enrolled"}, ip_address)
    return codes


@transaction.atomic
def recovery_codes_create(*, user) -> list[str]:
    """New one-time recovery codes, replacing the old ones. Shown once."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(settings.OTP_RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def verify(*, user, token: str, ip_address=None):
    """The device that accepts `token` (an app code, or a recovery code, used up), or None."""
    token = "".join(token.split()).lower()
    if not token or not is_enrolled(user):
        return None
    device = match_token(user, token)
    if isinstance(device, StaticDevice):
        _audit(user, {"event": "recovery_code_used", "left": recovery_codes_left(user)}, ip_address)
    return device


@transaction.atomic
def second_factor_reset(*, membership: Membership, actor, ip_address=None) -> None:
    """An admin removes a member's authenticator and recovery codes (a lost phone): the member
    enrols again at their next sign-in."""
    for device in devices_for_user(membership.user, confirmed=None):
        device.delete()
    _audit(membership.user, {"event": "reset"}, ip_address, actor=actor)


def _audit(user, detail, ip_address, actor=None):
    membership = Membership.objects.filter(user=user).first()
    if membership is None:
        return
    AuditEvent.objects.create(
        clinic_id=membership.clinic_id,
        user=actor or user,
        action=AuditAction.SECOND_FACTOR,
        object_type="user",
        object_id=str(user.pk),
        detail={"username": user.get_username(), **detail},
        ip_address=ip_address,
    )


def clinic_doctors_second_factor_set(*, clinic, enabled: bool, actor, ip_address=None) -> None:
    """Turn the second factor for the clinic's doctors on or off (an admin's choice). Audited."""
    clinic.doctors_need_second_factor = enabled
    clinic.save(update_fields=["doctors_need_second_factor"])
    AuditEvent.objects.create(
        clinic=clinic,
        user=actor,
        action=AuditAction.SECOND_FACTOR,
        object_type="clinic",
        object_id=str(clinic.pk),
        detail={"event": "doctors_required" if enabled else "doctors_not_required"},
        ip_address=ip_address,
    )
