"""The retention dashboard's endpoint: one GET with the period and filters, every figure."""

from datetime import timedelta

from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api import ClinicScopedRelatedField, ClinicUserField, DateField
from patients.choices import Source
from patients.dashboard import retention, retention_summaries
from patients.models import PatientTag

MAX_PERIOD_DAYS = 3 * 366


class DashboardQuerySerializer(serializers.Serializer):
    start = DateField(required=False, label=_("From"))
    end = DateField(required=False, label=_("To"))
    doctor = ClinicUserField(required=False, allow_null=True, label=_("Doctor"))
    tag = ClinicScopedRelatedField(
        queryset=PatientTag.objects.all(), required=False, allow_null=True, label=_("Tag")
    )
    source = serializers.ChoiceField(choices=Source.choices, required=False, label=_("Channel"))
    window_days = serializers.IntegerField(min_value=7, max_value=365, default=90)
    at_risk_days = serializers.IntegerField(min_value=7, max_value=730, default=90)

    def validate(self, data):
        today = timezone.localdate()
        data.setdefault("end", today)
        data.setdefault("start", data["end"] - timedelta(days=364))
        if data["start"] > data["end"]:
            raise serializers.ValidationError({"end": [_("The end date is before the start.")]})
        if (data["end"] - data["start"]).days > MAX_PERIOD_DAYS:
            raise serializers.ValidationError(
                {"start": [_("Choose a period of at most three years.")]}
            )
        return data


def dashboard_figures(*, clinic, start, end, window_days, at_risk_days, **filters) -> dict:
    """Every figure, from the summary tables once the beat job has built them for the clinic
    (every filter combination is served there), else computed live (a new clinic, the SQLite
    demo). `freshness` says which, and as of when."""
    period = {"clinic": clinic, "start": start, "end": end, **filters}
    as_of = retention_summaries.refreshed_at(clinic)
    figures = retention if as_of is None else retention_summaries
    return {
        "period": {"start": start, "end": end},
        "freshness": _freshness(as_of),
        "revisit": figures.revisit_rate(window_days=window_days, **period),
        "churn": figures.churn(**period),
        "at_risk": figures.at_risk(clinic=clinic, days=at_risk_days, **filters),
        "referral": figures.referral_rate(**period),
        "sources": figures.source_channels(window_days=window_days, **period),
        "satisfaction": figures.satisfaction(**period),
        "funnel": figures.journey_funnel(**period),
        "cohorts": figures.cohort_retention(**period),
        # Follow-up figures are GET /api/followup-figures/ (patients may not import
        # followups); the key stays, null, for the clients of 1.2.0.
        "followups": None,
    }


def without_money(figures: dict) -> dict:
    """The figures for a member who may not see amounts paid (operations, README: role × data):
    the cohorts' lifetime value is left out (null; the page hides its column)."""
    for row in figures["cohorts"]:
        row["amount"] = row["amount_per_patient"] = None
    return figures


def _freshness(as_of) -> dict:
    if as_of is None:
        return {"as_of": None, "label": gettext("Live figures")}
    local = formats.date_format(timezone.localtime(as_of), "Y-m-d H:i")
    return {"as_of": as_of, "label": gettext("Figures as of %(time)s") % {"time": local}}


class DashboardView(APIView):
    """Retention figures of the user's clinic for a period, doctor, tag and channel.

    Not for nurses: the figures and the at-risk list cover every ward, and a nurse sees
    only her wards' patients."""

    capability = "see_clinic_figures"

    @extend_schema(
        parameters=[DashboardQuerySerializer],
        responses={200: OpenApiResponse(description="Every figure of the dashboard.")},
    )
    def get(self, request):
        params = {k: v for k, v in request.query_params.items() if v != ""}
        query = DashboardQuerySerializer(data=params, context={"request": request})
        query.is_valid(raise_exception=True)
        data = dict(query.validated_data)
        filters = {"doctor": data.pop("doctor", None), "tag": data.pop("tag", None)}
        filters["source"] = data.pop("source", None)
        figures = dashboard_figures(clinic=request.clinic, **data, **filters)
        labels = dict(Source.choices)
        for row in figures["sources"]:
            row["label"] = str(labels.get(row["source"], row["source"]))
        if not request.membership.can_see_clinical:
            without_money(figures)
        return Response(figures)
