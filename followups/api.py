"""The follow-ups API. Serializers check shape; services do the work; every queryset
starts from request.clinic."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api import ClinicScopedRelatedField, DateField
from crm.models import Membership
from followups import clock, selectors, services
from followups.models import (
    Anchor,
    CarePlan,
    CarePlanTemplate,
    FollowUpSettings,
    FollowUpTask,
    Outcome,
    Trigger,
)
from patients.api import VisiblePatientField
from patients.bulk import BULK_MAX_PATIENTS
from patients.choices import Stage
from patients.fields.models import PatientField
from patients.models import Patient, PatientTag, Visit
from patients.selectors import patients_visible_to


class FollowUpTaskSerializer(serializers.ModelSerializer):
    patient_name = serializers.CharField(source="patient.name", read_only=True)
    action_display = serializers.CharField(source="get_action_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    plan_name = serializers.CharField(source="plan.template.name", read_only=True, default="")
    assignee_name = serializers.SerializerMethodField()
    role_display = serializers.CharField(source="get_role_display", read_only=True)
    is_overdue = serializers.SerializerMethodField()
    patient_url = serializers.SerializerMethodField()

    class Meta:
        model = FollowUpTask
        fields = [
            "id",
            "patient",
            "patient_name",
            "patient_url",
            "plan",
            "plan_name",
            "title",
            "action",
            "action_display",
            "assignee",
            "assignee_name",
            "role",
            "role_display",
            "due_at",
            "window_end",
            "status",
            "status_display",
            "is_overdue",
            "outcome",
            "attempts",
            "callback_of",
            "notes",
            "done_at",
            "done_by",
        ]
        read_only_fields = fields

    def to_representation(self, task):
        data = super().to_representation(task)
        # What was said on a follow-up is clinical (README: role × data): blank for operations.
        request = self.context.get("request")
        membership = getattr(request, "membership", None)
        if membership is None or not membership.can_see_clinical:
            data["notes"] = ""
        return data

    def get_is_overdue(self, task) -> bool:
        return task.is_overdue()

    def get_patient_url(self, task) -> str:
        return reverse("patients:detail", args=[task.patient_id])

    def get_assignee_name(self, task) -> str:
        """The assignee's name in the clinic; "" for a role's pool (see role_display)."""
        if task.assignee_id is None:
            return ""
        # One query per response: a list shares this serializer for all its rows (its page is
        # the parent's instance), so the names of the page's assignees are read at once.
        if not hasattr(self, "_names"):
            rows = getattr(self.parent, "instance", None) or [task]
            self._names = {
                m.user_id: m.name
                for m in Membership.objects.filter(
                    clinic_id=task.clinic_id, user_id__in={t.assignee_id for t in rows}
                ).select_related("user")
            }
        # Someone who has left the clinic keeps their tasks: show the account name.
        return self._names.get(task.assignee_id) or task.assignee.get_username()


class CompleteSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    callback_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        label=_("Callback time"),
        help_text="For outcome callback (约定回电): the agreed time, in the future.",
    )


class TickSerializer(serializers.Serializer):
    value = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=50,
        label=_("Value"),
        help_text="The value the item asks for (体温 37.2, 血压 120/80), when it asks.",
    )


CALL_SCHEMA = inline_serializer(
    "CallReveal", {"phone": serializers.CharField(), "tel": serializers.CharField()}
)


class FollowUpTaskViewSet(viewsets.ReadOnlyModelViewSet):
    """Follow-up tasks. `?view=mine|today|overdue|upcoming` gives the signed-in person's
    open tasks (their own and their role's pool), most urgent first."""

    serializer_class = FollowUpTaskSerializer
    filterset_fields = ["status", "action", "patient", "plan", "assignee"]
    ordering_fields = ["due_at", "id"]

    queryset = FollowUpTask.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        view = self.request.query_params.get("view")
        if view in ("mine", "today", "overdue", "upcoming"):
            return selectors.task_queue(membership=self.request.membership, view=view)
        return selectors.tasks_visible_to(self.request.membership).order_by("due_at", "id")

    @extend_schema(
        parameters=[OpenApiParameter("view", str, enum=["mine", "today", "overdue", "upcoming"])]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=CompleteSerializer, responses=FollowUpTaskSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        task = self.get_object()
        data = CompleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = services.followup_complete(
            task=task,
            by=request.user,
            outcome=data.validated_data.get("outcome", ""),
            notes=data.validated_data.get("notes", ""),
            callback_at=data.validated_data.get("callback_at"),
        )
        return Response(FollowUpTaskSerializer(task, context={"request": request}).data)

    @extend_schema(request=None, responses=CALL_SCHEMA)
    @action(detail=True, methods=["post"])
    def call(self, request, pk=None):
        """拨打: the full number for this call, as a tel: link, audited with the task as the
        reason. Not stored by the browser (no-store)."""
        task = self.get_object()
        if not request.membership.can_call:
            raise PermissionDenied(_("Your role does not make calls to patients."))
        number = services.call_reveal(
            task=task, membership=request.membership, ip_address=request.META.get("REMOTE_ADDR")
        )
        response = Response(number)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=TickSerializer, responses=FollowUpTaskSerializer)
    @action(detail=True, methods=["post"])
    def tick(self, request, pk=None):
        task = self.get_object()
        data = TickSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.checklist_tick(task=task, by=request.user, value=data.validated_data.get("value"))
        task.refresh_from_db()
        return Response(FollowUpTaskSerializer(task, context={"request": request}).data)

    @extend_schema(request=None, responses=FollowUpTaskSerializer)
    @action(detail=True, methods=["post"])
    def untick(self, request, pk=None):
        """Undo a checklist tick (audited, on the timeline): the item is open again."""
        task = self.get_object()
        services.checklist_untick(
            task=task, by=request.user, ip_address=request.META.get("REMOTE_ADDR")
        )
        task.refresh_from_db()
        return Response(FollowUpTaskSerializer(task, context={"request": request}).data)


class CarePlanTemplateSerializer(serializers.ModelSerializer):
    trigger = serializers.ChoiceField(choices=Trigger.choices, required=False)
    anchor = serializers.ChoiceField(choices=Anchor.choices, required=False)
    # With anchor "field": the patient's date field (a PatientField of kind date) day 0 is.
    anchor_field = ClinicScopedRelatedField(
        queryset=PatientField.objects.all(), required=False, allow_null=True
    )
    trigger_tag = ClinicScopedRelatedField(
        queryset=PatientTag.objects.select_related("group"), required=False, allow_null=True
    )
    trigger_stage = serializers.ChoiceField(choices=Stage.choices, required=False, allow_blank=True)
    trigger_visit_kind = serializers.ChoiceField(
        choices=Visit.Kind.choices, required=False, allow_blank=True
    )
    # Shape only (a list of objects); the services check every rule and name the step.
    steps = serializers.ListField(child=serializers.DictField(), required=False)
    version = serializers.IntegerField(source="current_version.number", read_only=True)

    class Meta:
        model = CarePlanTemplate
        fields = [
            "id",
            "name",
            "trigger",
            "trigger_tag",
            "trigger_stage",
            "trigger_visit_kind",
            "anchor",
            "anchor_field",
            "is_active",
            "version",
            "steps",
        ]

    def to_representation(self, template):
        data = super().to_representation(template)
        data["steps"] = template.current_version.steps if template.current_version else []
        return data


class CarePlanTemplateViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Care plan templates (SOPs). Everyone reads; only admins create and edit. An edit of
    the steps makes a new version; plans already started keep theirs."""

    serializer_class = CarePlanTemplateSerializer
    write_capability = "manage_clinic"

    queryset = CarePlanTemplate.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return CarePlanTemplate.objects.filter(clinic=self.request.clinic).select_related(
            "current_version"
        )

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.template_create(
            clinic=self.request.clinic,
            by=self.request.user,
            steps=data.pop("steps", None),
            **{k: v for k, v in data.items() if k != "is_active"},
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        if "trigger" not in data:
            for field in ("trigger_tag", "trigger_stage", "trigger_visit_kind"):
                data.pop(field, None)
        if "anchor" not in data and "anchor_field" in data:
            data["anchor"] = serializer.instance.anchor
        serializer.instance = services.template_update(
            template=serializer.instance, by=self.request.user, **data
        )


class CarePlanSerializer(serializers.ModelSerializer):
    patient = VisiblePatientField(queryset=Patient.objects.all())
    template = ClinicScopedRelatedField(queryset=CarePlanTemplate.objects.all())
    template_name = serializers.CharField(source="template.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)

    class Meta:
        model = CarePlan
        fields = [
            "id",
            "patient",
            "template",
            "template_name",
            "version",
            "anchor_date",
            "anchor_field",
            "status",
            "stop_reason",
            "created_at",
        ]
        read_only_fields = ["anchor_field", "status", "stop_reason", "created_at"]
        # Not required for a template counting from a patient date field (手术日期): day 0 is
        # the patient's date. careplan_unique_per_anchor is checked in validate.
        extra_kwargs = {"anchor_date": {"required": False}}
        validators = []

    def validate(self, data):
        data = super().validate(data)
        # Day 0: the patient's date field, or the date given (today when none); a missing
        # anchor date is an error naming the field and the patient.
        data["anchor_date"] = services.plan_anchor_date(
            patient=data["patient"], template=data["template"], anchor_date=data.get("anchor_date")
        )
        # careplan_unique_per_anchor, said in words a person understands: a second click on
        # "start" for the same day lands here.
        if CarePlan.objects.filter(
            patient=data["patient"], template=data["template"], anchor_date=data["anchor_date"]
        ).exists():
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        _("This plan was already started for this patient from that day.")
                    ]
                }
            )
        return data


class PlanBulkStartSerializer(serializers.Serializer):
    template = ClinicScopedRelatedField(
        queryset=CarePlanTemplate.objects.select_related("current_version")
    )
    anchor_date = DateField(default=clock.local_today, label=_("Day 0"))
    patients = serializers.ListField(
        child=serializers.IntegerField(),
        allow_empty=False,
        max_length=BULK_MAX_PATIENTS,
        label=_("Patients"),
    )


class StopSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class CarePlanViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Plans: start one by hand (POST), stop one with a reason (POST …/stop/)."""

    serializer_class = CarePlanSerializer
    filterset_fields = ["patient", "template", "status"]
    write_capability = "start_plans"

    queryset = CarePlan.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return CarePlan.objects.filter(
            clinic=self.request.clinic,
            patient__in=patients_visible_to(self.request.membership),
        ).select_related("template", "version", "patient")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance, _created = services.plan_start(
            patient=data["patient"],
            template=data["template"],
            anchor_date=data["anchor_date"],
            by=self.request.user,
        )

    @extend_schema(
        request=PlanBulkStartSerializer,
        responses=inline_serializer(
            "PlanBulkStartResult",
            {
                "selected": serializers.IntegerField(),
                "started": serializers.IntegerField(),
                "already_started": serializers.IntegerField(),
            },
        ),
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Start one plan for a selection of patients, all or nothing. A patient who already
        has this plan from that day counts as already started, not as an error."""
        data = PlanBulkStartSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        result = services.plan_start_bulk(
            membership=request.membership,
            patient_ids=data.validated_data["patients"],
            template=data.validated_data["template"],
            anchor_date=data.validated_data["anchor_date"],
        )
        return Response(
            {
                "selected": len(result.started) + len(result.already_started),
                "started": len(result.started),
                "already_started": len(result.already_started),
            }
        )

    @extend_schema(request=StopSerializer, responses=CarePlanSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        plan = self.get_object()
        data = StopSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.plan_stop(plan=plan, reason=data.validated_data["reason"], by=request.user)
        plan.refresh_from_db()
        return Response(CarePlanSerializer(plan, context={"request": request}).data)


class FollowUpSettingsSerializer(serializers.ModelSerializer):
    # Null until the clinic first changes its settings: the defaults are read, never saved by a GET.
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = FollowUpSettings
        fields = ["call_attempts", "call_retry_hours", "updated_at"]


class FollowUpSettingsView(APIView):
    """The clinic's call rules: unanswered attempts before 漏访, and the staff hours between
    attempts. Everyone reads; admins change them."""

    write_capability = "manage_clinic"

    @extend_schema(responses=FollowUpSettingsSerializer)
    def get(self, request):
        return Response(
            FollowUpSettingsSerializer(services.followup_settings(request.clinic.pk)).data
        )

    @extend_schema(request=FollowUpSettingsSerializer, responses=FollowUpSettingsSerializer)
    def patch(self, request):
        row = services.followup_settings(request.clinic.pk)
        serializer = FollowUpSettingsSerializer(row, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        row = services.followup_settings_update(
            clinic_id=request.clinic.pk, **serializer.validated_data
        )
        return Response(FollowUpSettingsSerializer(row).data)
