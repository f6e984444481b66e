"""The hospital system's (HIS) inbound API: POST a list of visits for the token's clinic."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from patients.api import _refuse_clinical_writes
from patients.his import MAX_ROWS, his_visits_ingest


class HisVisitsView(APIView):
    """`POST /api/his/visits/` with `{"visits": [{his_visit_id, visit_date, kind, phone |
    his_patient_id, amount?, notes?}]}`; idempotent by his_visit_id."""

    @extend_schema(
        request=inline_serializer("HisVisits", {"visits": serializers.ListField()}),
        responses=inline_serializer(
            "HisVisitsResult",
            {
                "created": serializers.IntegerField(),
                "updated": serializers.IntegerField(),
                "unchanged": serializers.IntegerField(),
                "unmatched": serializers.ListField(),
                "errors": serializers.ListField(),
            },
        ),
    )
    def post(self, request):
        _refuse_clinical_writes(request.membership)
        rows = request.data.get("visits") if isinstance(request.data, dict) else None
        if not isinstance(rows, list):
            raise ValidationError({"visits": [_('Send a list of visits under "visits".')]})
        if len(rows) > MAX_ROWS:
            raise ValidationError(
                {"visits": [_("At most %(n)d visits per request.") % {"n": MAX_ROWS}]}
            )
        result = his_visits_ingest(clinic=request.clinic, rows=rows, actor=request.user)
        return Response(result, status=status.HTTP_200_OK)
