"""Field encryption for personal data (phone numbers, WeCom secrets).

Values are encrypted with Fernet (AES-128-CBC + HMAC); several keys may be set so
that keys can be rotated: the first encrypts, every key decrypts. Lookups use a
keyed HMAC so that a number can be found without decrypting the table; its key is separate
(FIELD_HASH_KEY) and may list a previous key after the new one, so lookups find rows hashed
with either while `rotate_field_keys` re-hashes the table.

A model with encrypted columns names them in `encrypted_fields`: {encrypted column: its
lookup-hash column or None}; `rotate_field_keys` finds them there.
"""

import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def hash_keys() -> list[str]:
    keys = settings.FIELD_HASH_KEY
    return [k.strip() for k in keys.split(",") if k.strip()] if isinstance(keys, str) else keys


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


def _hmac(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def lookup_hash(value: str) -> str:
    """A stable keyed hash for equality lookups of an encrypted value (the current key)."""
    if not value:
        return ""
    return _hmac(hash_keys()[0], value)


def lookup_hashes(value: str) -> list[str]:
    """The value's hash under every configured hash key, current first: what a lookup or a
    duplicate check asks for, so rows not yet re-hashed after a rotation are still found."""
    if not value:
        return []
    return list(dict.fromkeys(_hmac(key, value) for key in hash_keys()))


def rotate(token: str) -> str:
    """The same plaintext, encrypted with the current first key."""
    if not token:
        return ""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("Encrypted value cannot be read with the configured keys") from exc


def keys_changed() -> None:
    """Forget the cached Fernet keys (after the settings change, as in tests)."""
    _fernet.cache_clear()
