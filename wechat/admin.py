from django.contrib import admin

from crm.admin import ClinicScopedAdmin
from wechat.models import Delivery, DeliveryAttempt


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
