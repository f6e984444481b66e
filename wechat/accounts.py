"""A clinic's WeCom settings: the corp, the app secret, the callback keys."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm import crypto
from wechat.models import WeComAccount


def wecom_account_configure(
    *,
    clinic,
    corp_id: str,
    agent_id: str,
    secret: str = "",
    callback_token: str = "",
    encoding_aes_key: str = "",
    robot_key: str = "",
):
    """Create or update a clinic's WeCom settings. Empty secrets keep the stored ones, so a
    form never has to show a secret again."""
    account = WeComAccount.objects.filter(clinic=clinic).first() or WeComAccount(clinic=clinic)
    if not corp_id or not agent_id:
        raise ValidationError(_("Enter the corp id and the agent id."))
    if not secret and not account.secret_encrypted:
        raise ValidationError({"secret": [_("Enter the app secret.")]})
    if encoding_aes_key and len(encoding_aes_key) != 43:
        raise ValidationError({"encoding_aes_key": [_("The EncodingAESKey has 43 characters.")]})
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
