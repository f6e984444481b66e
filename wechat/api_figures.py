"""The dashboard's channel-quality card: per channel code, the patients who arrived through it
in the period and their 90-day revisit rate.

Its own endpoint, in this app, because patients (which serves /api/dashboard/) may not
import wechat; the dashboard page fetches both."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api import DateField
from patients.dashboard.api import DashboardQuerySerializer
from wechat import selectors


class ChannelFigureQuerySerializer(DashboardQuerySerializer):
    """The dashboard's period and revisit window, with its checks and messages. Channel codes
    are counted for the whole clinic: doctor, tag and channel parameters are ignored."""

    doctor = None
    tag = None
    source = None
    at_risk_days = None


CHANNEL_FIGURES_SCHEMA = inline_serializer(
    "ChannelFigures",
    {
        "period": inline_serializer(
            "ChannelFiguresPeriod",
            {"start": DateField(), "end": DateField()},
        ),
        "window_days": serializers.IntegerField(help_text="The revisit window (90 by default)."),
        "codes": inline_serializer(
            "ChannelCodeFigure",
            {
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "is_active": serializers.BooleanField(),
                "arrived": serializers.IntegerField(
                    help_text="Patients who became WeCom contacts through the code in the period."
                ),
                "first_visits": serializers.IntegerField(
                    help_text="The code's patients whose first visit fell in the period."
                ),
                "revisited": serializers.IntegerField(
                    help_text="Of those, the patients with another visit on a later day within "
                    "window_days of the first."
                ),
                "revisit_rate": serializers.FloatField(
                    allow_null=True, help_text="revisited / first_visits"
                ),
            },
            many=True,
        ),
    },
)


class ChannelFiguresView(APIView):
    """Channel quality of the user's clinic from `start` to `end` (whole clinic days, both
    included): each channel code (referral codes left out) with its arrivals and revisit rate,
    the dashboard's 复诊率 definition applied to the code's patients."""

    # The same readers as the dashboard: a nurse's view is limited to her wards.
    capability = "see_clinic_figures"

    @extend_schema(parameters=[ChannelFigureQuerySerializer], responses=CHANNEL_FIGURES_SCHEMA)
    def get(self, request):
        params = {k: v for k, v in request.query_params.items() if v != ""}
        query = ChannelFigureQuerySerializer(data=params, context={"request": request})
        query.is_valid(raise_exception=True)
        data = query.validated_data
        codes = selectors.channel_code_figures(
            clinic=request.clinic,
            start=data["start"],
            end=data["end"],
            window_days=data["window_days"],
        )
        return Response(
            {
                "period": {"start": data["start"], "end": data["end"]},
                "window_days": data["window_days"],
                "codes": codes,
            }
        )
