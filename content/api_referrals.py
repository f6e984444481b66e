"""A patient's referral code in the API: GET /api/patients/{id}/referral-code/ reads it (code
null until made) with the patient's referral count; POST makes it in WeCom if missing.

It lives in content, not in patients' API: patients never imports wechat, and content owns
referrals (the code is wechat's ChannelCode, the count content's selector)."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from content import selectors
from content.referrals import referral_code_create
from patients.selectors import patients_visible_to
from wechat.models import ChannelCode


class ReferralCodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChannelCode
        fields = ["id", "name", "state", "qr_code", "created_at"]
        read_only_fields = fields


class PatientReferralSerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    code = ReferralCodeSerializer(allow_null=True, help_text="null until the code is made")
    referrals = serializers.IntegerField(help_text="patients who arrived referred by this one")
    can_create = serializers.BooleanField(help_text="whether the signed-in member may make it")


class PatientReferralCodeView(generics.GenericAPIView):
    serializer_class = PatientReferralSerializer
    write_capability = "send_messages"  # who hands patients what the clinic sends them

    def get_queryset(self):
        return patients_visible_to(self.request.membership).select_related("clinic")

    def _answer(self, patient, code, status_code=status.HTTP_200_OK):
        data = {
            "patient": patient.pk,
            "code": ReferralCodeSerializer(code).data if code else None,
            "referrals": selectors.referral_count(patient=patient),
            "can_create": self.request.membership.can(self.write_capability),
        }
        return Response(data, status=status_code)

    @extend_schema(responses=PatientReferralSerializer)
    def get(self, request, pk):
        patient = self.get_object()
        return self._answer(patient, selectors.referral_code_of(patient))

    @extend_schema(
        request=None,
        responses={200: PatientReferralSerializer, 201: PatientReferralSerializer},
        description="Make the patient's referral QR code in WeCom; 200 if it already exists.",
    )
    def post(self, request, pk):
        patient = self.get_object()
        code, created = referral_code_create(patient=patient)
        return self._answer(patient, code, status.HTTP_201_CREATED if created else 200)
