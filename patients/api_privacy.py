"""A patient's PIPL rights in the API, for clinic admins: their data as a ZIP (art. 45) and the
erasure of their identity (art. 47), refused with the reason while the record must be kept."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from patients import privacy, selectors
from patients.api import PatientSerializer


class EraseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class _PatientAdminView(APIView):
    def get_queryset(self):
        return selectors.patients_visible_to(self.request.membership)

    def patient(self, pk):
        """Another clinic's patient is a 404 for everyone; then only admins go on (403)."""
        patient = get_object_or_404(self.get_queryset(), pk=pk)
        if not self.request.membership.can_manage_clinic:
            raise PermissionDenied(_("Only clinic administrators may do this."))
        return patient


class PatientDataExportView(_PatientAdminView):
    @extend_schema(
        responses={(200, "application/zip"): bytes},
        description="The patient's data for them (PIPL art. 45): patient.json, visits.csv, "
        "timeline.csv in a ZIP. Admins only; audited.",
    )
    def get(self, request, pk):
        patient = self.patient(pk)
        content = privacy.patient_data_export(patient=patient, by=request.user, request=request)
        response = HttpResponse(content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="patient-{patient.pk}.zip"'
        response["Cache-Control"] = "no-store"
        return response


class PatientEraseView(_PatientAdminView):
    @extend_schema(
        request=EraseSerializer,
        responses=PatientSerializer,
        description="Erase the patient's identity (PIPL art. 47). 400 with the reason while "
        "the medical record must be kept. Admins only; audited.",
    )
    def post(self, request, pk):
        patient = self.patient(pk)
        data = EraseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        privacy.patient_erase(
            patient=patient, by=request.user, reason=data.validated_data["reason"], request=request
        )
        patient = selectors.patients_for_list(request.membership).get(pk=patient.pk)
        return Response(PatientSerializer(patient, context={"request": request}).data)
