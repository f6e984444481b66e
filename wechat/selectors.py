"""Reads for the WeCom pages."""

from django.db.models import Prefetch

from crm.models import Clinic
from patients.models import Touch
from wechat.channels import channel_code_stats
from wechat.models import ChannelCode, ContactArrival, WeComAccount


def channel_code_rows(*, clinic: Clinic, days: int = 7) -> list[dict]:
    codes = list(
        ChannelCode.objects.filter(clinic=clinic)
        .prefetch_related("staff__user", "tags")
        .order_by("-created_at", "-id")
    )
    stats = channel_code_stats(clinic=clinic, days=days)
    empty = {"brought": 0, "current": 0, "days": []}
    return [{"code": code, **stats.get(code.pk, empty)} for code in codes]


def recent_arrivals(*, clinic: Clinic, limit: int = 5) -> list[ContactArrival]:
    """The newest WeCom arrivals with the first timeline entries of each patient."""
    touches = Touch.objects.order_by("occurred_at", "id")
    return list(
        ContactArrival.objects.filter(clinic=clinic)
        .select_related("patient", "channel_code")
        .prefetch_related(Prefetch("patient__touches", queryset=touches))
        .order_by("-arrived_at", "-id")[:limit]
    )


def stored_secrets(account: WeComAccount | None) -> dict[str, bool]:
    """Which secrets are stored (never their values)."""
    if account is None:
        return {}
    return {
        "secret": bool(account.secret_encrypted),
        "callback_token": bool(account.callback_token_encrypted),
        "encoding_aes_key": bool(account.encoding_aes_key_encrypted),
        "robot_key": bool(account.robot_key_encrypted),
    }
