from django.contrib import admin

from crm.admin import ClinicScopedAdmin
from wechat.models import CallbackEvent, ChannelCode, Delivery, DeliveryAttempt


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["started_at", "finished_at", "ok", "errcode", "error", "duration_ms"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ClinicScopedAdmin):
    """The outbox, read-only: what left, what is waiting, and the last error of each."""

    list_display = [
        "created_at",
        "channel",
        "recipient",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "possible_duplicate",
    ]
    list_filter = ["status", "channel", "possible_duplicate"]
    search_fields = ["idempotency_key", "recipient"]
    inlines = [DeliveryAttemptInline]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChannelCode)
class ChannelCodeAdmin(ClinicScopedAdmin):
    """Channel codes are created, edited and retired on their page, where WeCom updates or
    deletes the contact way too; here they are only looked at (switching one off here would
    leave its QR code adding patients in WeCom)."""

    list_display = ["name", "kind", "state", "stage", "is_active", "created_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "state"]
    fields = ["name", "is_active", "kind", "state", "config_id", "qr_code", "stage"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


@admin.register(CallbackEvent)
class CallbackEventAdmin(ClinicScopedAdmin):
    """The callback inbox, read-only: what WeCom sent, and what became of it."""

    list_display = ["received_at", "event", "change_type", "status", "attempts", "error"]
    list_filter = ["status", "event", "change_type"]
    readonly_fields = [f.name for f in CallbackEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
