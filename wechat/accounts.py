"""A clinic's WeCom settings: the corp, the app secret, the callback keys, the welcome text."""

import base64
import binascii

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm import crypto
from wechat.composer import WELCOME_VARIABLES, text_check
from wechat.models import WeComAccount


def _valid_aes_key(key: str) -> bool:
    """WeCom's EncodingAESKey: 43 characters of base64 that decode to a 32-byte AES key."""
    try:
        return len(key) == 43 and len(base64.b64decode(key + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def wecom_account_configure(
    *,
    clinic,
    corp_id: str,
    agent_id: str,
    secret: str = "",
    callback_token: str = "",
    encoding_aes_key: str = "",
    robot_key: str = "",
    welcome_text: str | None = None,
) -> WeComAccount:
    """Create or update a clinic's WeCom settings. Empty secrets keep the stored ones, so a
    form never has to show a secret again. `welcome_text` None keeps the stored one (a new
    account starts with DEFAULT_WELCOME_TEXT)."""
    account = WeComAccount.objects.filter(clinic=clinic).first() or WeComAccount(clinic=clinic)
    if not corp_id or not agent_id:
        raise ValidationError(_("Enter the corp id and the agent id."))
    if not secret and not account.secret_encrypted:
        raise ValidationError({"secret": [_("Enter the app secret.")]})
    encoding_aes_key = (encoding_aes_key or "").strip()
    if encoding_aes_key and not _valid_aes_key(encoding_aes_key):
        raise ValidationError({"encoding_aes_key": [_("The EncodingAESKey has 43 characters.")]})
    if welcome_text is not None:
        if not welcome_text.strip():
            raise ValidationError({"welcome_text": [_("Enter the default welcome message.")]})
        account.welcome_text = text_check(
            clinic=clinic, text=welcome_text, allowed=WELCOME_VARIABLES, field="welcome_text"
        )
    account.corp_id, account.agent_id = corp_id.strip(), str(agent_id).strip()
    for field, value in (
        ("secret_encrypted", secret),
        ("callback_token_encrypted", callback_token),
        ("encoding_aes_key_encrypted", encoding_aes_key),
        ("robot_key_encrypted", robot_key),
    ):
        if value:
            setattr(account, field, crypto.encrypt(value.strip()))
    account.save()
    return account
