"""The onboarding API (seed 004): recruitment, verification with the licence photo, training,
and the first-two-weeks watch list. Operations and admins only."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from crm.api import ClinicScopedRelatedField
from crm.guards import GuardedJSONParser
from doctors import selectors, services
from doctors.models import DoctorProfile, Onboarding

# Onboarding -------------------------------------------------------------------------------


class OnboardingSerializer(serializers.ModelSerializer):
    profile = ClinicScopedRelatedField(queryset=DoctorProfile.objects.all())
    verified = serializers.BooleanField(read_only=True)
    trained = serializers.BooleanField(read_only=True)
    has_licence = serializers.SerializerMethodField()

    class Meta:
        model = Onboarding
        fields = [
            "id",
            "profile",
            "recruitment_source",
            "recruitment_note",
            "licence_file",
            "has_licence",
            "hospital",
            "army_hospital",
            "registry_checked_by",
            "registry_checked_on",
            "trained_product",
            "trained_services",
            "trained_settlement",
            "started_on",
            "verified",
            "trained",
        ]
        extra_kwargs = {"licence_file": {"write_only": True, "required": False}}

    def get_has_licence(self, row) -> bool:
        return bool(row.licence_file)


class WatchListRowSerializer(serializers.Serializer):
    """A row of the first-two-weeks watch list (doctors.selectors.watch_list), for the schema."""

    id = serializers.IntegerField()
    profile = serializers.IntegerField()
    name = serializers.CharField()
    started_on = serializers.DateField()
    day = serializers.IntegerField()
    patients = serializers.IntegerField()
    followups_done = serializers.IntegerField()
    unanswered = serializers.IntegerField()
    mean_response_hours = serializers.FloatField(allow_null=True)
    verified = serializers.BooleanField()
    trained = serializers.BooleanField()


class OnboardingViewSet(viewsets.ModelViewSet):
    """New doctors of a chain: recruitment, verification, training (operations and admins).
    The licence photo is uploaded as multipart and downloaded from its page, never listed."""

    serializer_class = OnboardingSerializer
    capability = "manage_doctor_ip"
    parser_classes = [GuardedJSONParser, MultiPartParser, FormParser]

    queryset = Onboarding.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return Onboarding.objects.filter(clinic=self.request.clinic).select_related("profile")

    def _save(self, serializer, instance):
        data = dict(serializer.validated_data)
        profile = data.pop("profile", None) or instance.profile
        if instance is None and Onboarding.objects.filter(profile=profile).exists():
            raise ValidationError({"profile": [_("This doctor's onboarding already exists.")]})
        if instance is not None and profile != instance.profile:
            raise ValidationError({"profile": [_("An onboarding stays with its doctor.")]})
        base = {}
        if instance is not None:
            base = {
                f: getattr(instance, f)
                for f in OnboardingSerializer.Meta.fields
                if f not in ("id", "profile", "licence_file", "has_licence", "verified", "trained")
            }
        base.update(data)
        serializer.instance = services.onboarding_save(profile=profile, **base)

    def perform_create(self, serializer):
        self._save(serializer, None)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    @extend_schema(responses=WatchListRowSerializer(many=True))
    @action(
        detail=False,
        methods=["get"],
        url_path="watch-list",
        pagination_class=None,
        filter_backends=[],
    )
    def watch_list(self, request):
        """Doctors in their first two weeks: patients, follow-ups done, response times."""
        return Response(selectors.watch_list(clinic=request.clinic, today=timezone.localdate()))
