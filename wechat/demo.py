"""Demo wiring only: ask the fake WeCom (WECOM_FAKE_CONTROL_URL, set by `make run`) to behave
as if a patient had just scanned a channel code. Nothing else in CareLoop knows the fake."""

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from wechat.callbacks import callback_url
from wechat.models import ChannelCode


def demo_enabled() -> bool:
    return bool(settings.WECOM_FAKE_CONTROL_URL)


def demo_scan(*, code: ChannelCode) -> dict:
    """Register the clinic's callback with the fake (as an admin pastes it into WeCom's
    console), then have the fake push add_external_contact for the code's first staff member."""
    if not demo_enabled():
        raise ValidationError(_("Simulated scans need the fake WeCom of the demo."))
    if not code.is_active:
        raise ValidationError(_("This code is retired: WeCom deleted its QR code."))
    account = code.clinic.wecom_account
    staff = code.staff.exclude(wecom_userid="").order_by("id").first()
    if staff is None:
        raise ValidationError(_("This code has no staff member with a WeCom userid."))
    base = settings.WECOM_FAKE_CONTROL_URL.rstrip("/") + "/"
    try:
        requests.post(
            base + "apps",
            json={
                "corp_id": account.corp_id,
                "callback_url": callback_url(clinic=code.clinic),
                "token": account.callback_token,
                "aes_key": account.encoding_aes_key,
            },
            timeout=5,
        ).raise_for_status()
        response = requests.post(
            base + "push",
            json={
                "corp_id": account.corp_id,
                "change_type": "add_external_contact",
                "userid": staff.wecom_userid,
                "state": code.state,
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ValidationError(
            _("The fake WeCom did not answer: %(error)s") % {"error": exc.__class__.__name__}
        ) from exc


def demo_confirm(*, clinic, userid: str) -> list[str]:
    """The staff member `userid` presses 发送 on their waiting mass messages in WeCom (the
    fake's control call), then CareLoop reads the results at once instead of at the next
    beat. Returns the msgids the fake sent."""
    from wechat.groupmsg import customer_results_poll

    if not demo_enabled():
        raise ValidationError(_("Simulated confirmations need the fake WeCom of the demo."))
    if not clinic.memberships.filter(wecom_userid=userid).exclude(wecom_userid="").exists():
        raise ValidationError(_("No staff member of this clinic has that WeCom userid."))
    base = settings.WECOM_FAKE_CONTROL_URL.rstrip("/") + "/"
    try:
        response = requests.post(base + "confirm", json={"userid": userid}, timeout=10)
        response.raise_for_status()
        confirmed = response.json().get("confirmed", [])
    except (requests.RequestException, ValueError) as exc:
        raise ValidationError(
            _("The fake WeCom did not answer: %(error)s") % {"error": exc.__class__.__name__}
        ) from exc
    customer_results_poll()
    return confirmed
