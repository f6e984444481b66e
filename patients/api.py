"""The patients API. Serializers validate shape; services do the work."""

from django.db import transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from crm.api import ClinicScopedRelatedField, ClinicUserField
from crm.audit import audit_record
from crm.models import ASSISTANT_ROLES, DOCTOR_ROLES, AuditAction, Role
from patients import caregivers as caregiving
from patients import exports, privacy, selectors, services, timeline
from patients.action_serializers import (
    BookRevisitSerializer,
    BulkSerializer,
    NoteSerializer,
    VisitSerializer,
)
from patients.api_timeline import TimelinePagination, TouchSerializer
from patients.bulk import UNCHANGED, patient_bulk_apply
from patients.choices import CaregiverRelation, CaregiverReminder, Stage
from patients.editing import can_merge_patients
from patients.fields.api import CustomFieldsField, custom_fields_clean
from patients.fields.services import field_values_set
from patients.filters import PatientFilter
from patients.merge import patient_merge, patient_merge_preview
from patients.models import Caregiver, Patient, PatientTag, TagGroup, Ward


@extend_schema_field(OpenApiTypes.INT)
class VisiblePatientField(serializers.PrimaryKeyRelatedField):
    """A patient the request's user may see (selectors.patients_visible_to); any other id,
    another clinic's or another ward's, looks nonexistent."""

    def get_queryset(self):
        return selectors.patients_visible_to(self.context["request"].membership)


class TagSerializer(serializers.ModelSerializer):
    group = serializers.PrimaryKeyRelatedField(read_only=True)
    group_name = serializers.CharField(source="group.name", read_only=True)

    class Meta:
        model = PatientTag
        fields = ["id", "name", "group", "group_name"]


class TagGroupSerializer(serializers.ModelSerializer):
    tags = TagSerializer(many=True, read_only=True)

    class Meta:
        model = TagGroup
        fields = ["id", "name", "kind", "is_single_choice", "position", "tags"]


class PatientSerializer(serializers.ModelSerializer):
    phone = serializers.CharField(write_only=True, required=False, allow_blank=True)
    phone_masked = serializers.CharField(read_only=True)
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    stage_display = serializers.CharField(source="get_stage_display", read_only=True)
    tags = serializers.SerializerMethodField()
    tag_ids = ClinicScopedRelatedField(
        queryset=PatientTag.objects.select_related("group"),
        many=True,
        write_only=True,
        required=False,
    )
    referred_by = ClinicScopedRelatedField(
        queryset=Patient.objects.all(), required=False, allow_null=True
    )
    assigned_doctor = ClinicUserField(roles=DOCTOR_ROLES, required=False, allow_null=True)
    assigned_assistant = ClinicUserField(roles=ASSISTANT_ROLES, required=False, allow_null=True)
    ward = ClinicScopedRelatedField(queryset=Ward.objects.all(), required=False, allow_null=True)
    custom_fields = CustomFieldsField()

    class Meta:
        model = Patient
        fields = [
            "id",
            "name",
            "gender",
            "birth_date",
            "phone",
            "phone_masked",
            "external_userid",
            "source",
            "source_detail",
            "referred_by",
            "assigned_doctor",
            "assigned_assistant",
            "ward",
            "stage",
            "stage_display",
            "stage_changed_at",
            "consent_to_contact",
            "consent_care_changed_at",
            "consent_care_how",
            "consent_marketing",
            "consent_marketing_changed_at",
            "consent_marketing_how",
            "last_visit_date",
            "notes",
            "tags",
            "tag_ids",
            "custom_fields",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "stage_changed_at",
            "consent_care_changed_at",
            "consent_marketing_changed_at",
            "last_visit_date",
            "created_at",
            "updated_at",
        ]

    def get_tags(self, patient) -> list[dict]:
        # The clinic's tags once per response (a list shares this serializer for its rows),
        # each represented once: a row's tags are then its tag_ids looked up.
        if not hasattr(self, "_tags"):
            self._tags = selectors.clinic_tags(patient.clinic_id)
            serializer = TagSerializer()
            self._tag_data = {pk: serializer.to_representation(t) for pk, t in self._tags.items()}
        return [self._tag_data[t.pk] for t in selectors.patient_tags(patient, self._tags)]

    def validate(self, data):
        # A nurse places patients only in her own wards: any other ward (or none, on create)
        # would hide the patient from her at once.
        membership = self.context["request"].membership
        if membership.role == Role.NURSE and ("ward" in data or self.instance is None):
            ward = data.get("ward")
            mine = selectors.wards_visible_to(membership)
            if ward is None or not mine.filter(pk=ward.pk).exists():
                raise serializers.ValidationError({"ward": [_("Choose one of your wards.")]})
        # The clinic's fields: checked before anything is written (a new patient: the
        # required ones too), each message naming its field.
        if "custom_fields" in data or self.instance is None:
            if data.get("custom_fields") and not membership.can_edit_patient_fields:
                raise serializers.ValidationError(
                    {"custom_fields": [_("Your role cannot change the patient's fields.")]}
                )
            custom_fields_clean(
                clinic_id=membership.clinic_id,
                values=data.get("custom_fields", {}),
                creating=self.instance is None,
            )
        return data

    def validate_stage(self, value):
        if self.instance is not None and value != self.instance.stage:
            raise serializers.ValidationError(_("Change the stage with the stage action."))
        return value

    @transaction.atomic
    def create(self, validated):
        request = self.context["request"]
        tags = validated.pop("tag_ids", [])
        custom = validated.pop("custom_fields", {})
        try:
            patient, self.created = services.patient_add(
                clinic=request.clinic,
                actor=request.user,
                tags=tags,
                # A client's retry with the same key gets the first call's patient.
                form_token=request.headers.get("Idempotency-Key", ""),
                **validated,
            )
        except services.DuplicatePatient as error:
            errors = dict(error.message_dict)
            visible = selectors.patients_visible_to(request.membership)
            if visible.filter(pk=error.existing.pk).exists():
                errors["existing_patient"] = [error.existing.pk]
            raise serializers.ValidationError(errors) from error
        if self.created and custom:
            field_values_set(patient=patient, values=custom, actor=request.user, creating=True)
        return patient

    @transaction.atomic
    def update(self, patient, validated):
        request = self.context["request"]
        validated.pop("stage", None)
        tags = validated.pop("tag_ids", None)
        custom = validated.pop("custom_fields", None)
        patient = services.patient_update(
            patient=patient, actor=request.user, membership=request.membership, **validated
        )
        if custom:
            field_values_set(
                patient=patient, values=custom, actor=request.user, membership=request.membership
            )
        if tags is not None:
            current = set(selectors.patient_tags(patient))
            services.patient_tag(
                patient=patient,
                add=[t for t in tags if t not in current],
                remove=[t for t in current if t not in tags],
                actor=request.user,
            )
        return patient


class MergeSerializer(serializers.Serializer):
    other = VisiblePatientField(
        queryset=Patient.objects.none(), label=_("The other record (closed after the merge)")
    )


class MergePreviewSerializer(serializers.Serializer):
    fills = serializers.ListField(child=serializers.CharField())
    moves = serializers.DictField(child=serializers.IntegerField())


class StageChangeSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class TagChangeSerializer(serializers.Serializer):
    add = ClinicScopedRelatedField(
        queryset=PatientTag.objects.select_related("group"), many=True, required=False, default=list
    )
    remove = ClinicScopedRelatedField(
        queryset=PatientTag.objects.select_related("group"), many=True, required=False, default=list
    )


def _refuse_clinical_writes(membership) -> None:
    """Calls, notes and visits are clinical (README: role × data): a role that may not read
    them (operations) does not write them either."""
    if not membership.can_see_clinical:
        raise PermissionDenied(_("Your role does not record calls, notes or visits."))


class CaregiverSerializer(serializers.ModelSerializer):
    """A caregiver (家属): the phone is written in full and read masked; `reminders` are the
    reminders the patient chose for this caregiver (the consent per purpose)."""

    phone = serializers.CharField(write_only=True, required=False, allow_blank=True)
    phone_masked = serializers.CharField(read_only=True)
    relation = serializers.ChoiceField(choices=CaregiverRelation.choices)
    relation_display = serializers.CharField(source="get_relation_display", read_only=True)
    reminders = serializers.ListField(
        child=serializers.ChoiceField(choices=CaregiverReminder.choices),
        required=False,
        allow_empty=True,
    )

    class Meta:
        model = Caregiver
        fields = [
            "id",
            "name",
            "relation",
            "relation_display",
            "phone",
            "phone_masked",
            "external_userid",
            "reminders",
            "consent_changed_at",
            "created_at",
        ]
        read_only_fields = ["consent_changed_at", "created_at"]


CAREGIVER_PK = OpenApiParameter(
    "caregiver_pk", int, location=OpenApiParameter.PATH, description="The caregiver's id."
)


class PatientViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Patients the user may see: the clinic's, a nurse's wards' only. Phones are masked;
    reveal is a logged action."""

    serializer_class = PatientSerializer
    # Never queried (get_queryset scopes every request): it lets the schema generator, which
    # has no signed-in member, find the model and so document PatientFilter's parameters.
    queryset = Patient.objects.none()
    filterset_class = PatientFilter
    ordering_fields = ["created_at", "name", "last_visit_date", "stage_changed_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return selectors.patients_for_list(self.request.membership)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                location=OpenApiParameter.HEADER,
                required=False,
                description="The same key again answers the first call's patient (200).",
            )
        ],
        responses={201: PatientSerializer, 200: PatientSerializer},
    )
    def create(self, request, *args, **kwargs):
        # 201 for a new patient; 200 with the first call's patient for a repeated
        # Idempotency-Key (a retry, a double click).
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        created = getattr(serializer, "created", True)
        return Response(
            serializer.data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        privacy.patient_opened(patient_id=response.data["id"], request=request, via="api")
        return response

    def filter_queryset(self, queryset):
        # A detail action finds one patient by id in the clinic: building the list's FilterSet
        # and ordering for it cost a fifth of a patient page's time.
        if self.detail:
            return queryset
        return super().filter_queryset(queryset)

    @extend_schema(request=StageChangeSerializer, responses=PatientSerializer)
    @action(detail=True, methods=["post"])
    def stage(self, request, pk=None):
        patient = self.get_object()
        data = self._validated(StageChangeSerializer)
        transition = services.patient_set_stage(patient=patient, actor=request.user, **data)
        if transition is None:
            raise serializers.ValidationError(
                {
                    "stage": [
                        _("The patient is already at “%(stage)s”; nothing was changed.")
                        % {"stage": patient.get_stage_display()}
                    ]
                }
            )
        return Response(self.get_serializer(self.get_queryset().get(pk=patient.pk)).data)

    @extend_schema(request=TagChangeSerializer, responses=PatientSerializer)
    @action(detail=True, methods=["post"])
    def tags(self, request, pk=None):
        patient = self.get_object()
        data = self._validated(TagChangeSerializer)
        services.patient_tag(
            patient=patient, add=data["add"], remove=data["remove"], actor=request.user
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=patient.pk)).data)

    @extend_schema(
        parameters=[OpenApiParameter("other", int, required=True)],
        responses=MergePreviewSerializer,
    )
    @action(detail=True, methods=["get"], url_path="merge")
    def merge_preview(self, request, pk=None):
        """What merging `other` into this patient would fill and move."""
        patient, other = self._merge_pair(request.query_params)
        return Response(patient_merge_preview(survivor=patient, duplicate=other))

    @extend_schema(request=MergeSerializer, responses=PatientSerializer)
    @merge_preview.mapping.post
    def merge(self, request, pk=None):
        """Merge `other` into this patient: fields filled, rows moved, the other closed."""
        patient, other = self._merge_pair(request.data)
        patient_merge(survivor=patient, duplicate=other, actor=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=patient.pk)).data)

    def _merge_pair(self, data):
        patient = self.get_object()
        if not can_merge_patients(self.request.membership):
            raise PermissionDenied(_("Your role cannot merge patient records."))
        serializer = MergeSerializer(data=data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return patient, serializer.validated_data["other"]

    @extend_schema(
        request=None,
        responses=inline_serializer("RevealedPhone", {"phone": serializers.CharField()}),
    )
    @action(detail=True, methods=["post"], url_path="reveal-phone")
    def reveal_phone(self, request, pk=None):
        patient = self.get_object()
        if not request.membership.can_reveal_phone:
            audit_record(
                clinic_id=patient.clinic_id,
                user=request.user,
                action=AuditAction.REVEAL_REFUSED,
                object_type="patient",
                object_id=patient.pk,
                detail={"role": request.membership.role},
                request=request,
            )
            raise PermissionDenied(_("Your role cannot see full phone numbers."))
        phone = services.patient_reveal_phone(
            patient=patient, user=request.user, ip_address=request.META.get("REMOTE_ADDR")
        )
        return Response({"phone": phone})

    # Caregivers (家属) ------------------------------------------------------------------

    def _caregiver(self, patient, caregiver_pk):
        try:
            return caregiving.caregivers_of(patient).get(pk=int(caregiver_pk))
        except (Caregiver.DoesNotExist, ValueError) as exc:
            raise NotFound(_("No such caregiver.")) from exc

    def _may_edit_caregivers(self):
        if not self.request.membership.can("edit_patients"):
            raise PermissionDenied(_("Your role cannot change a patient's caregivers."))

    @extend_schema(responses=CaregiverSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="caregivers", pagination_class=None)
    def caregivers(self, request, pk=None):
        """The patient's caregivers, phones masked."""
        patient = self.get_object()
        rows = caregiving.caregivers_of(patient)
        return Response(CaregiverSerializer(rows, many=True).data)

    @extend_schema(request=CaregiverSerializer, responses={201: CaregiverSerializer})
    @caregivers.mapping.post
    def caregiver_add(self, request, pk=None):
        """Add a caregiver and choose the reminders they receive."""
        patient = self.get_object()
        self._may_edit_caregivers()
        serializer = CaregiverSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        caregiver = caregiving.caregiver_save(
            patient=patient, actor=request.user, **serializer.validated_data
        )
        return Response(CaregiverSerializer(caregiver).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=CaregiverSerializer,
        responses={200: CaregiverSerializer, 204: None},
        parameters=[CAREGIVER_PK],
    )
    @action(
        detail=True,
        methods=["get", "patch", "delete"],
        url_path=r"caregivers/(?P<caregiver_pk>[0-9]+)",
    )
    def caregiver(self, request, pk=None, caregiver_pk=None):
        """One caregiver: read, change (the reminders chosen, a new phone) or remove."""
        patient = self.get_object()
        caregiver = self._caregiver(patient, caregiver_pk)
        if request.method == "GET":
            return Response(CaregiverSerializer(caregiver).data)
        self._may_edit_caregivers()
        if request.method == "DELETE":
            caregiving.caregiver_remove(caregiver=caregiver, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = CaregiverSerializer(caregiver, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        caregiver = caregiving.caregiver_save(
            patient=patient, caregiver=caregiver, actor=request.user, **serializer.validated_data
        )
        return Response(CaregiverSerializer(caregiver).data)

    @extend_schema(
        request=None,
        parameters=[CAREGIVER_PK],
        responses=inline_serializer("RevealedCaregiverPhone", {"phone": serializers.CharField()}),
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"caregivers/(?P<caregiver_pk>[0-9]+)/reveal-phone",
    )
    def caregiver_reveal_phone(self, request, pk=None, caregiver_pk=None):
        """The caregiver's full number, audited as a patient's is."""
        patient = self.get_object()
        caregiver = self._caregiver(patient, caregiver_pk)
        if not request.membership.can_reveal_phone:
            audit_record(
                clinic_id=patient.clinic_id,
                user=request.user,
                action=AuditAction.REVEAL_REFUSED,
                object_type="caregiver",
                object_id=caregiver.pk,
                detail={"role": request.membership.role, "patient_id": patient.pk},
                request=request,
            )
            raise PermissionDenied(_("Your role cannot see full phone numbers."))
        phone = caregiving.caregiver_reveal_phone(
            caregiver=caregiver, user=request.user, ip_address=request.META.get("REMOTE_ADDR")
        )
        return Response({"phone": phone})

    @extend_schema(responses=TouchSerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        patient = self.get_object()
        # Clinical entries only for the roles that may read them (README: role × data).
        touches = (
            selectors.touches_visible_to(request.membership, patient)
            .select_related("actor")
            .prefetch_related("actor__memberships")
        )
        kind = request.query_params.get("kind")
        if kind:
            touches = touches.filter(kind__in=kind.split(","))
        paginator = TimelinePagination()
        page = paginator.paginate_queryset(touches, request, view=self)
        if not request.query_params.get(paginator.cursor_query_param):
            privacy.patient_opened(patient_id=patient.pk, request=request, via="timeline")
        return paginator.get_paginated_response(TouchSerializer(page, many=True).data)

    @extend_schema(request=NoteSerializer, responses=TouchSerializer)
    @timeline.mapping.post
    def add_touch(self, request, pk=None):
        patient = self.get_object()
        _refuse_clinical_writes(request.membership)
        data = self._validated(NoteSerializer)
        touch = timeline.touch_record(patient=patient, actor=request.user, **data)
        return Response(TouchSerializer(touch).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=BookRevisitSerializer, responses=TouchSerializer)
    @action(detail=True, methods=["post"], url_path="book-revisit")
    def book_revisit(self, request, pk=None):
        patient = self.get_object()
        data = self._validated(BookRevisitSerializer)
        touch = services.patient_book_revisit(patient=patient, actor=request.user, **data)
        return Response(TouchSerializer(touch).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=VisitSerializer(many=True))
    @action(detail=True, methods=["get"])
    def visits(self, request, pk=None):
        patient = self.get_object()
        visits = selectors.visits_visible_to(request.membership, patient)
        return Response(VisitSerializer(visits, many=True).data)

    @extend_schema(request=VisitSerializer, responses=VisitSerializer)
    @visits.mapping.post
    def add_visit(self, request, pk=None):
        patient = self.get_object()
        _refuse_clinical_writes(request.membership)
        data = self._validated(VisitSerializer)
        visit = services.visit_record(patient=patient, actor=request.user, **data)
        return Response(VisitSerializer(visit).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=BulkSerializer,
        responses=inline_serializer(
            "BulkResult",
            {"selected": serializers.IntegerField(), "changed": serializers.IntegerField()},
        ),
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Add/remove tags, change stage or assign a doctor for a selection, all or nothing."""
        data = self._validated(BulkSerializer)
        changed = patient_bulk_apply(
            patients=data["ids"],
            actor=request.user,
            add_tags=data["add_tags"],
            remove_tags=data["remove_tags"],
            stage=data.get("stage"),
            reason=data["reason"],
            assigned_doctor=data.get("assigned_doctor", UNCHANGED),
        )
        return Response({"selected": len(data["ids"]), "changed": changed})

    @extend_schema(
        responses=inline_serializer(
            "PatientCounts",
            {
                "total": serializers.IntegerField(),
                "by_stage": serializers.DictField(child=serializers.IntegerField()),
            },
        )
    )
    @action(detail=False, methods=["get"])
    def counts(self, request):
        """Patients per stage for the list's filters, the stage filter left out, so a page can
        show how many each stage would list."""
        params = request.query_params.copy()
        params.pop("stage", None)
        filterset = PatientFilter(
            params, queryset=selectors.patients_visible_to(request.membership), request=request
        )
        if not filterset.is_valid():
            raise serializers.ValidationError(filterset.errors)
        by_stage = selectors.patient_counts_by_stage(filterset.qs)
        return Response({"total": sum(by_stage.values()), "by_stage": by_stage})

    @extend_schema(
        parameters=[OpenApiParameter("file", enum=list(exports.FORMATS), default="csv")],
        responses={
            (200, "text/csv"): bytes,
            (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): bytes,
        },
    )
    @action(detail=False, methods=["get"])
    def export(self, request):
        """The filtered list as CSV or xlsx; phones masked unless the user may reveal them."""
        fmt = request.query_params.get("file", "csv")
        if fmt not in exports.FORMATS:
            raise serializers.ValidationError({"file": [_("Choose CSV or Excel.")]})
        queryset = self.filter_queryset(self.get_queryset())
        filters = {k: v for k, v in request.query_params.lists() if k not in ("file", "page")}
        content_type, content = exports.patients_export(
            queryset=queryset,
            clinic=request.clinic,
            user=request.user,
            membership=request.membership,
            fmt=fmt,
            filters=filters,
            ip=request.META.get("REMOTE_ADDR"),
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response_class = HttpResponse if isinstance(content, bytes) else StreamingHttpResponse
        response = response_class(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="patients-{stamp}.{fmt}"'
        return response

    def _validated(self, serializer_class):
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class TagGroupViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TagGroupSerializer
    pagination_class = None

    queryset = TagGroup.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return TagGroup.objects.filter(clinic=self.request.clinic).prefetch_related("tags__group")
