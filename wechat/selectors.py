"""Reads for the WeCom pages."""

from datetime import date, datetime, time, timedelta

from django.db.models import Count, F, Q
from django.utils import timezone

from crm.models import Clinic
from patients.dashboard.cohorts import rate
from patients.dashboard.retention import revisit_cohort
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


def channel_code_figures(
    *, clinic: Clinic, start: date, end: date, window_days: int = 90
) -> list[dict]:
    """Channel quality per code (the clinic's codes, referral codes left out), for the period
    (dates, both included, in the clinic's time zone):

    - `arrived`: patients who became WeCom contacts through the code in the period;
    - `first_visits`, `revisited`, `revisit_rate`: the dashboard's 复诊率 definition applied
      to the code's patients (all who ever arrived through it): of those whose first visit
      fell in the period, the share with another visit on a later day within `window_days`.

    A patient who arrived through two codes counts for each. Two grouped queries."""
    tz = timezone.get_current_timezone()
    lo = datetime.combine(start, time.min, tzinfo=tz)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    codes = list(
        ChannelCode.objects.filter(clinic=clinic)
        .exclude(kind=ChannelCodeKind.REFERRAL)
        .order_by("-created_at", "-id")
        .values("pk", "name", "is_active")
    )
    arrived = dict(
        ContactArrival.objects.filter(
            clinic=clinic,
            channel_code__clinic=clinic,
            arrived_at__gte=lo,
            arrived_at__lt=hi,
        )
        .values("channel_code")
        .annotate(n=Count("patient", distinct=True))
        .order_by()
        .values_list("channel_code", "n")
    )
    cohort = {
        row["code"]: row
        for row in revisit_cohort(clinic=clinic, start=start, end=end, window_days=window_days)
        .values(code=F("wecom_arrivals__channel_code"))
        .annotate(
            first_visits=Count("pk", distinct=True),
            revisited=Count("pk", distinct=True, filter=Q(has_revisit=True)),
        )
        .order_by()
    }
    rows = []
    for code in codes:
        counts = cohort.get(code["pk"], {})
        first, back = counts.get("first_visits", 0), counts.get("revisited", 0)
        rows.append(
            {
                "id": code["pk"],
                "name": code["name"],
                "is_active": code["is_active"],
                "arrived": arrived.get(code["pk"], 0),
                "first_visits": first,
                "revisited": back,
                "revisit_rate": rate(back, first),
            }
        )
    return rows


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
