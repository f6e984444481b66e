"""Field encryption for personal data (phone numbers, WeCom secrets).

Values are encrypted with Fernet (AES-128-CBC + HMAC); several keys may be set so
that keys can be rotated: the first encrypts, every key decrypts. Lookups use a
keyed HMAC so that a number can be found without decrypting the table.
"""

import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@cache
def _fernet():
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("Encrypted value cannot be read with the configured keys") from exc


def lookup_hash(value: str) -> str:
    """A stable keyed hash for equality lookups of an encrypted value."""
    if not value:
        return ""
    key = settings.FIELD_HASH_KEY.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
