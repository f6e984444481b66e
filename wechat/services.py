"""The wechat app's services, as other apps, views, tasks and commands call them.

The work is in modules by domain: `outbox` (Delivery), `accounts` (settings per clinic).
"""

from wechat.accounts import wecom_account_configure
from wechat.outbox import (
    deliveries_due_ids,
    deliveries_recover_stale,
    delivery_enqueue,
    delivery_send,
    retry_delay,
    wake_sender,
)

__all__ = [
    "deliveries_due_ids",
    "deliveries_recover_stale",
    "delivery_enqueue",
    "delivery_send",
    "retry_delay",
    "wake_sender",
    "wecom_account_configure",
]
