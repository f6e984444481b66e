"""The patient fields API: every member lists the clinic's fields (`/api/patient-fields/`);
admins (manage_patient_fields) define, change, reorder and delete them. A patient's values are
the patient's `custom_fields` (patients/api.py), keyed by the field's name."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from patients.fields import services
from patients.fields.models import FieldKind, PatientField


class PatientFieldSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=FieldKind.choices)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    options = serializers.ListField(
        child=serializers.CharField(max_length=50, allow_blank=True), required=False
    )

    class Meta:
        model = PatientField
        fields = [
            "id",
            "name",
            "kind",
            "kind_display",
            "options",
            "is_required",
            "position",
            "help_text",
        ]

    def create(self, validated):
        return services.field_create(clinic=self.context["request"].clinic, **validated)

    def update(self, field, validated):
        return services.field_update(field=field, **validated)


class ReorderSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=100)


class PatientFieldViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The clinic's patient fields in their order (text, number, date, single or multiple
    choice; required or not)."""

    serializer_class = PatientFieldSerializer
    write_capability = "manage_patient_fields"
    pagination_class = None

    queryset = PatientField.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return PatientField.objects.filter(clinic=self.request.clinic).order_by("position", "id")

    def perform_destroy(self, field):
        services.field_delete(field=field)

    @extend_schema(request=ReorderSerializer, responses=PatientFieldSerializer(many=True))
    @action(detail=False, methods=["post"])
    def reorder(self, request):
        data = ReorderSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.fields_reorder(clinic=request.clinic, ids=data.validated_data["ids"])
        return Response(
            PatientFieldSerializer(self.get_queryset(), many=True).data, status=status.HTTP_200_OK
        )


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "string"},
                {"type": "number"},
                {"type": "array", "items": {"type": "string"}},
            ],
            "nullable": True,
        },
        "description": (
            "The clinic's patient fields by name (GET /api/patient-fields/): text and single "
            "choice a string, number a number, date YYYY-MM-DD, multiple choice a list of "
            "options; null for no value. A write changes the fields it names; null or empty "
            "clears one."
        ),
        "example": {"手术日期": "2026-12-01", "过敏史": ["青霉素"]},
    }
)
class CustomFieldsField(serializers.Field):
    """A patient's values of the clinic's fields, by field name."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "*")
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def _cache(self, patient):
        # Once per response: the clinic's fields, and the values of every patient of the page
        # (a list's root is its ListSerializer, whose instance is the page).
        root = self.root
        if not hasattr(root, "_custom_fields"):
            root._custom_fields = services.clinic_fields(patient.clinic_id)
            instance = root.instance
            many = isinstance(instance, list | tuple) or hasattr(instance, "model")
            ids = [p.pk for p in instance] if many else [patient.pk]
            root._custom_values = (
                services.values_of(ids, root._custom_fields) if root._custom_fields else {}
            )
        return root._custom_fields, root._custom_values

    def to_representation(self, patient):
        fields, values = self._cache(patient)
        if fields and patient.pk not in values:
            # A patient outside the page the cache was made for (a write's answer).
            values.update(services.values_of([patient.pk], fields))
        mine = values.get(patient.pk, {})
        return {f.name: services.value_json(f, mine.get(f.pk)) for f in fields}

    def to_internal_value(self, data):
        if not isinstance(data, dict) or len(data) > services.MAX_FIELDS:
            raise serializers.ValidationError(
                _("Send the patient's fields as an object of field names and values.")
            )
        return {"custom_fields": data}


def custom_fields_clean(*, clinic_id: int, values: dict, creating: bool) -> None:
    """The API's check before anything is written: every bad value's message (each names its
    field) under `custom_fields`."""
    try:
        services.values_clean(clinic_id=clinic_id, values=values, require=creating)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(
            {"custom_fields": [m for ms in exc.message_dict.values() for m in ms]}
        ) from exc
