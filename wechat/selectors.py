"""Reads for the WeCom pages."""

from crm.models import Clinic
from patients.models import Touch
from wechat.channels import channel_code_stats
from wechat.models import ChannelCode, ChannelCodeKind, ContactArrival, WeComAccount


def channel_code_rows(*, clinic: Clinic, days: int = 7) -> list[dict]:
    # Referral codes, one per patient, are shown on their patient's page: hundreds of them
    # would bury the clinic's own channel codes here.
    codes = list(
        ChannelCode.objects.filter(clinic=clinic)
        .exclude(kind=ChannelCodeKind.REFERRAL)
        .prefetch_related("staff__user", "tags")
        .order_by("-created_at", "-id")
    )
    stats = channel_code_stats(clinic=clinic, days=days)
    empty = {"brought": 0, "current": 0, "days": []}
    return [{"code": code, **stats.get(code.pk, empty)} for code in codes]


TOUCHES_PER_ARRIVAL = 6


def recent_arrivals(*, clinic: Clinic, limit: int = 5) -> list[ContactArrival]:
    """The newest WeCom arrivals, each with its patient's latest timeline entries (a few
    small queries: at most `limit` patients)."""
    arrivals = list(
        ContactArrival.objects.filter(clinic=clinic)
        .select_related("patient", "channel_code")
        .order_by("-arrived_at", "-id")[:limit]
    )
    for arrival in arrivals:
        arrival.latest_touches = list(
            Touch.objects.filter(patient_id=arrival.patient_id).order_by("-occurred_at", "-id")[
                :TOUCHES_PER_ARRIVAL
            ]
        )
    return arrivals


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
