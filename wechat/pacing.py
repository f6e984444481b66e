"""Pacing below WeCom's limits, shared by every worker process through PostgreSQL.

Each limit is a RateBucket row holding its next free send slot. A sender reserves the
slots for a whole block of rows of one bucket under one row lock (not one lock per
send), then sends the block's rows at their slots. A send never goes before its slot,
so however many processes send, a bucket never sees more than its pace.
"""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from wechat.models import DeliveryChannel, RateBucket

# WeCom's documented limits: (calls, per seconds). We pace at WECOM_PACING of each.
CORP_API_LIMIT = (10_000, 60)
MEMBER_LIMITS = ((30, 60), (1_000, 3600))  # app messages to one staff member: excess is dropped
ROBOT_LIMIT = (20, 60)


def _interval(limit) -> float:
    calls, seconds = limit
    return seconds * settings.WECOM_LIMIT_WINDOW_SCALE / (calls * settings.WECOM_PACING)


def buckets(delivery, account) -> list[tuple[str, float]]:
    """(bucket key, seconds between two sends) for every limit this send counts against."""
    corp = account.corp_id
    if delivery.channel == DeliveryChannel.APP_MESSAGE:
        member = max(_interval(limit) for limit in MEMBER_LIMITS)
        return [
            (f"api:{corp}:message/send", _interval(CORP_API_LIMIT)),
            (f"member:{corp}:{delivery.recipient}", member),
        ]
    if delivery.channel == DeliveryChannel.ROBOT:
        return [(f"robot:{corp}", _interval(ROBOT_LIMIT))]
    api = (
        "add_msg_template"
        if delivery.channel == DeliveryChannel.CUSTOMER_MESSAGE
        else "send_welcome_msg"
    )
    return [(f"api:{corp}:{api}", _interval(CORP_API_LIMIT))]


def reserve_slots(rows: list, now) -> dict[int, object]:
    """rows: (delivery, account) pairs. Reserve one slot per row in each of its buckets,
    a block per bucket; returns {delivery id: the time it may be sent} (the latest of
    its buckets' slots)."""
    per_bucket = defaultdict(list)  # key -> (interval, [delivery ids in order])
    slots = {}
    for delivery, account in rows:
        slots[delivery.pk] = now
        for key, seconds in buckets(delivery, account):
            per_bucket[key].append((seconds, delivery.pk))
    # Sorted keys: two senders lock buckets in the same order, so they cannot deadlock.
    for key in sorted(per_bucket):
        members = per_bucket[key]
        seconds = members[0][0]
        # No savepoint of its own: in the sender's claim the lock is held to its commit.
        with transaction.atomic(savepoint=False):
            bucket, _created = RateBucket.objects.select_for_update().get_or_create(
                key=key, defaults={"next_free_at": now}
            )
            start = max(bucket.next_free_at, now)
            bucket.next_free_at = start + timedelta(seconds=seconds * len(members))
            bucket.save(update_fields=["next_free_at"])
        for n, (_seconds, delivery_id) in enumerate(members):
            slots[delivery_id] = max(slots[delivery_id], start + timedelta(seconds=seconds * n))
    return slots
