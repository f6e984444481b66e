"""The wechat app's services, as other apps, views, tasks and commands call them.

The work is in modules by domain: `outbox` (Delivery), `accounts` (settings per clinic),
`channels` (channel codes), `callbacks` (the inbox), `contacts` (what contact events mean),
`sync` (backfill and reconcile with WeCom).
"""

from wechat.accounts import wecom_account_configure
from wechat.channels import channel_code_create
from wechat.outbox import (
    deliveries_due_ids,
    deliveries_recover_stale,
    deliveries_send_due,
    delivery_enqueue,
    delivery_enqueue_many,
    delivery_send,
    retry_delay,
    wake_sender,
)

__all__ = [
    "channel_code_create",
    "deliveries_due_ids",
    "deliveries_recover_stale",
    "deliveries_send_due",
    "delivery_enqueue",
    "delivery_enqueue_many",
    "delivery_send",
    "retry_delay",
    "wake_sender",
    "wecom_account_configure",
]
