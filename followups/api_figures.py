"""The dashboard's follow-up card: completion and timeliness for a period and a doctor.

Its own endpoint, in this app, because patients (which serves /api/dashboard/) may not
import followups; the dashboard page fetches both."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api import DateField
from followups import clock, selectors
from patients.dashboard.api import DashboardQuerySerializer


class FigureQuerySerializer(DashboardQuerySerializer):
    """The dashboard's period and doctor, with its checks and messages. Tags and channels
    are not follow-up dimensions: those fields are removed, so such parameters are ignored."""

    tag = None
    source = None
    window_days = None
    at_risk_days = None


FIGURES_SCHEMA = inline_serializer(
    "FollowUpFigures",
    {
        "period": inline_serializer(
            "FollowUpFiguresPeriod",
            {"start": DateField(), "end": DateField()},
        ),
        "due": serializers.IntegerField(help_text="Tasks due in the period, cancelled left out."),
        "done": serializers.IntegerField(
            help_text="Closed with the patient reached (not 未联系上; a callback counts)."
        ),
        "on_time": serializers.IntegerField(help_text="Done by the end of their window."),
        "unreachable": serializers.IntegerField(
            help_text="漏访: closed after the last unanswered call attempt."
        ),
        "unreachable_share": serializers.FloatField(allow_null=True, help_text="unreachable / due"),
        "completion": serializers.FloatField(allow_null=True, help_text="done / due"),
        "timeliness": serializers.FloatField(allow_null=True, help_text="on_time / due"),
        "median_delay_hours": serializers.FloatField(
            allow_null=True, help_text="Median of done_at - due_at over done tasks (early = 0)."
        ),
    },
)


class FollowUpFiguresView(APIView):
    """Follow-up completion and timeliness (随访及时率) of the user's clinic: tasks due from
    `start` to `end` (whole clinic days, both included), optionally of one doctor's patients."""

    # The same readers as the dashboard: a nurse's view is limited to her wards.
    capability = "see_clinic_figures"

    @extend_schema(
        parameters=[FigureQuerySerializer],
        responses=FIGURES_SCHEMA,
    )
    def get(self, request):
        params = {k: v for k, v in request.query_params.items() if v != ""}
        query = FigureQuerySerializer(data=params, context={"request": request})
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        figures = selectors.followup_figures(
            clinic=request.clinic,
            start=clock.day_bounds(start)[0],
            end=clock.day_bounds(end)[1],
            doctor=query.validated_data.get("doctor"),
        )
        return Response({"period": {"start": start, "end": end}, **figures})
