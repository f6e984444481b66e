"""The timeline's API pieces: a touch as the API shows it, and its keyset pages."""

from rest_framework import pagination, serializers

from crm.selectors import user_name
from patients.models import Touch
from patients.timeline import touch_text


class TouchSerializer(serializers.ModelSerializer):
    actor_name = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = Touch
        fields = [
            "id",
            "kind",
            "kind_display",
            "channel",
            "actor",
            "actor_name",
            "summary",
            "payload",
            "occurred_at",
        ]
        read_only_fields = fields

    def get_summary(self, touch) -> str:
        """In the reader's language (patients.timeline.touch_text)."""
        return touch_text(touch)

    def get_actor_name(self, touch) -> str:
        """The author by display name (prefetch "actor__memberships" for a page of them)."""
        return user_name(touch.actor)


class TimelinePagination(pagination.CursorPagination):
    """Keyset pages: page 100 costs what page 1 costs."""

    ordering = ("-occurred_at", "-id")
    page_size = 30

    def get_ordering(self, request, queryset, view):
        # When it happened, newest first. DRF's cursor paging would take the view's
        # OrderingFilter ordering instead, the patient list's -created_at, which for a touch
        # is when it was recorded: a call logged later would jump to the top.
        return self.ordering
