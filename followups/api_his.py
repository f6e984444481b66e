"""`POST /api/his/appointments/`: the HIS's appointments for the token's clinic."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from followups.his import his_appointments_ingest
from patients.api import _refuse_clinical_writes
from patients.his import MAX_ROWS


class HisAppointmentsView(APIView):
    @extend_schema(
        request=inline_serializer("HisAppointments", {"appointments": serializers.ListField()}),
        responses=dict,
    )
    def post(self, request):
        _refuse_clinical_writes(request.membership)
        rows = request.data.get("appointments") if isinstance(request.data, dict) else None
        if not isinstance(rows, list) or len(rows) > MAX_ROWS:
            raise ValidationError(
                {
                    "appointments": [
                        _('Send at most %(n)d appointments as a list under "appointments".')
                        % {"n": MAX_ROWS}
                    ]
                }
            )
        return Response(
            his_appointments_ingest(clinic=request.clinic, rows=rows, actor=request.user)
        )
