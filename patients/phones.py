"""Chinese phone numbers: validation, normalisation (E.164) and masking."""

import phonenumbers
from django.utils.translation import gettext_lazy as _


class PhoneError(ValueError):
    pass


def normalize_phone(raw: str) -> str:
    """'138 1234 5678' → '+8613812345678'; raises PhoneError for anything not a CN number."""
    text = (raw or "").strip()
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(_("Enter a valid mainland China phone number.")) from exc
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        raise PhoneError(_("Enter a valid mainland China phone number."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national(e164: str) -> str:
    return e164[3:] if e164.startswith("+86") else e164


def mask_phone(e164: str) -> str:
    """'+8613812345678' → '138****5678'."""
    digits = national(e164)
    if len(digits) < 8:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"
