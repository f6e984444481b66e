"""The wechat app's services, as other apps, views, tasks and commands call them.

The work is in modules by domain: `outbox` (Delivery), `accounts` (settings per clinic),
`channels` (channel codes), `callbacks` (the inbox), `contacts` (what contact events mean),
`sync` (backfill and reconcile with WeCom), `groupmsg` (customer messages as WeCom's
mass-message tasks: reconcile, results, reminders, expiry).
"""

from wechat.accounts import wecom_account_configure
from wechat.channels import channel_code_create
from wechat.groupmsg import customer_results_poll
from wechat.outbox import (
    deliveries_due_ids,
    deliveries_recover_stale,
    deliveries_send_due,
    delivery_enqueue,
    delivery_enqueue_many,
    delivery_send,
    wake_sender,
)
from wechat.sending import retry_delay
from wechat.transport import MASS_MAX_RECIPIENTS

__all__ = [
    "MASS_MAX_RECIPIENTS",
    "channel_code_create",
    "customer_results_poll",
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
