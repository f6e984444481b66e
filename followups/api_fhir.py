"""Read-only FHIR endpoints for hospital IT: token-authenticated, clinic-scoped, audited."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from crm.audit import audit_record
from crm.models import AuditAction
from followups.fhir import SYSTEM, bundle_of, patient_everything, patient_resource
from patients.selectors import patients_visible_to

FHIR_JSON = "application/fhir+json"


def _base(request) -> str:
    return request.build_absolute_uri("/fhir/")


def _answer(bundle) -> HttpResponse:
    return HttpResponse(bundle.json(), content_type=FHIR_JSON)


class FhirPatientEverythingView(APIView):
    """`GET /fhir/Patient/{id}/$everything`: the patient's Bundle; another clinic's is a 404."""

    # Not in our OpenAPI schema: FHIR's own specification describes it (docs/his.md), and
    # OpenAPI tools drop the "$" of an operation path.
    @extend_schema(exclude=True)
    def get(self, request, pk):
        patient = get_object_or_404(patients_visible_to(request.membership), pk=pk)
        bundle = patient_everything(patient, _base(request))
        audit_record(
            clinic_id=request.clinic.pk,
            user=request.user,
            action=AuditAction.EXPORT,
            object_type="patient",
            object_id=patient.pk,
            detail={"format": "fhir", "operation": "$everything", "entries": bundle.total},
            request=request,
        )
        return _answer(bundle)


class FhirPatientSearchView(APIView):
    """`GET /fhir/Patient?identifier=[system|]value`: our id or the HIS patient id."""

    # Not in our OpenAPI schema: FHIR's own specification describes it (docs/his.md), and
    # OpenAPI tools drop the "$" of an operation path.
    @extend_schema(exclude=True)
    def get(self, request):
        raw = (request.query_params.get("identifier") or "").strip()
        if not raw:
            raise ValidationError({"identifier": [_("Give an identifier to search for.")]})
        system, _bar, value = raw.rpartition("|")
        patients = patients_visible_to(request.membership)
        clinic = request.clinic.pk
        ours = SYSTEM.format(clinic=clinic, kind="patient")
        his = SYSTEM.format(clinic=clinic, kind="his-patient")
        if system == ours:
            found = patients.filter(pk=int(value)) if value.isdigit() else patients.none()
        elif system in ("", his):
            found = patients.filter(his_patient_id=value)
        else:
            found = patients.none()
        found = list(found[:50])
        audit_record(
            clinic_id=clinic,
            user=request.user,
            action=AuditAction.EXPORT,
            object_type="patient",
            object_id=",".join(str(p.pk) for p in found),
            detail={"format": "fhir", "operation": "search", "count": len(found)},
            request=request,
        )
        return _answer(bundle_of([patient_resource(p) for p in found], _base(request)))
