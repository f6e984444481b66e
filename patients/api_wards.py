"""The wards API: everyone in the clinic lists wards; admins create, rename and staff them."""

from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, serializers, viewsets

from crm.api import ClinicScopedRelatedField
from crm.models import Membership
from patients.models import Ward
from patients.wards import ward_save


class WardSerializer(serializers.ModelSerializer):
    nurses = ClinicScopedRelatedField(
        queryset=Membership.objects.all(),
        many=True,
        required=False,
        help_text=_("Staff member ids of the nurses who care for this ward's patients."),
    )
    patient_count = serializers.SerializerMethodField()

    class Meta:
        model = Ward
        fields = ["id", "name", "nurses", "patient_count", "created_at"]
        read_only_fields = ["created_at"]

    def get_patient_count(self, ward) -> int:
        # Annotated on lists; counted for the one ward a write returns.
        count = getattr(ward, "patient_count", None)
        return ward.patients.count() if count is None else count

    def create(self, validated):
        return ward_save(ward=Ward(clinic=self.context["request"].clinic), **validated)

    def update(self, ward, validated):
        return ward_save(ward=ward, **validated)


class WardViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Wards (病区) of the clinic. A nurse sees only the patients of her wards."""

    serializer_class = WardSerializer
    write_capability = "manage_clinic"
    ordering_fields = ["name", "id"]
    ordering = ["name", "id"]

    queryset = Ward.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return (
            Ward.objects.filter(clinic=self.request.clinic)
            .annotate(patient_count=Count("patients"))
            .prefetch_related("nurses")
        )
