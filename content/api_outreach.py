"""The content API for what goes out to patients: campaigns, surveys, referral counts.
Same pattern as content.api: every queryset starts from request.clinic; services do the work."""

from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from content import selectors
from content.api import ServiceSaveMixin
from content.articles import article_publishable_clean, campaigns_with_reads
from content.campaigns import (
    campaign_cancel,
    campaign_preview,
    campaign_results,
    campaign_save,
    campaign_schedule,
)
from content.models import (
    Campaign,
    CampaignRecipient,
    Survey,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
)
from content.surveys import survey_invite, survey_save
from followups.appointment_models import Appointment
from patients.api import VisiblePatientField
from patients.models import Visit
from patients.selectors import patients_visible_to
from wechat.models import DeliveryRecipient, RecipientStatus

# Campaigns -------------------------------------------------------------------------------


class CampaignSerializer(serializers.ModelSerializer):
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    segment = serializers.DictField(required=False)
    article = serializers.IntegerField(
        source="article_id",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text=_(
            "A published article of the clinic: {链接} in the text (appended when missing) "
            "is its tracked link, one per sender's WeCom task."
        ),
    )
    reads = serializers.SerializerMethodField(
        help_text=_(
            "Opens of the article's links, counted per sender's WeCom task, not per patient "
            "(WeCom sends one text to all of a sender's customers); null without an article."
        )
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "body",
            "segment",
            "article",
            "reads",
            "status",
            "status_display",
            "send_at",
            "started_at",
            "finished_at",
            "included_count",
            "excluded_count",
            "created_by",
            "created_at",
        ]
        read_only_fields = [
            "status",
            "send_at",
            "started_at",
            "finished_at",
            "included_count",
            "excluded_count",
            "created_by",
            "created_at",
        ]

    def get_reads(self, campaign) -> dict | None:
        if campaign.article_id is None:
            return None
        if not hasattr(campaign, "read_opens"):  # a campaign just saved: not from the queryset
            campaign = campaigns_with_reads(Campaign.objects.filter(pk=campaign.pk)).get()
        return {
            "opens": campaign.read_opens,
            "links": campaign.read_links,
            "opened": campaign.read_opened,
        }


class CampaignPreviewSerializer(serializers.Serializer):
    segment = serializers.DictField(required=False, default=dict)
    body = serializers.CharField(required=False, allow_blank=True, default="")


class CampaignSendSerializer(serializers.Serializer):
    send_at = serializers.DateTimeField(required=False, allow_null=True, help_text=_("Empty: now."))


class CampaignRecipientSerializer(serializers.ModelSerializer):
    patient_name = serializers.CharField(source="patient.name", read_only=True)
    reason_display = serializers.CharField(source="get_reason_display", read_only=True)
    delivery_status = serializers.CharField(source="delivery.status", default=None)
    # What WeCom reports for this patient: pending (awaiting the staff member's
    # confirmation), delivered, not_contact, daily_limit, unconfirmed, failed.
    result = serializers.CharField(default=None, read_only=True, allow_null=True)
    result_display = serializers.SerializerMethodField()

    class Meta:
        model = CampaignRecipient
        fields = [
            "patient",
            "patient_name",
            "included",
            "reason",
            "reason_display",
            "delivery",
            "delivery_status",
            "result",
            "result_display",
        ]
        read_only_fields = fields

    def get_result_display(self, row) -> str | None:
        result = getattr(row, "result", None)
        return str(RecipientStatus(result).label) if result else None


PREVIEW_RESPONSE = inline_serializer(
    "CampaignPreview",
    {
        "total": serializers.IntegerField(),
        "included": serializers.IntegerField(),
        "excluded": serializers.IntegerField(),
        "reasons": inline_serializer(
            "ExclusionCount",
            {
                "reason": serializers.CharField(),
                "label": serializers.CharField(),
                "count": serializers.IntegerField(),
            },
            many=True,
        ),
    },
)


class CampaignViewSet(
    ServiceSaveMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Mass messages. Drafts are edited; `preview` counts who is reached and who is excluded
    and why; `send` schedules (now or at send_at); `recipients` lists the per-patient results."""

    serializer_class = CampaignSerializer
    write_capability = "send_messages"
    filterset_fields = ["status"]

    queryset = Campaign.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return campaigns_with_reads(Campaign.objects.filter(clinic=self.request.clinic))

    def fields_of(self, campaign):
        return {
            "name": campaign.name,
            "body": campaign.body,
            "segment": campaign.segment,
            "article_id": campaign.article_id,
        }

    def save_with_service(self, data, instance):
        return campaign_save(
            clinic=self.request.clinic,
            name=data.get("name", ""),
            body=data.get("body", ""),
            segment=data.get("segment"),
            by=self.request.user,
            campaign=instance,
            article=article_publishable_clean(
                clinic=self.request.clinic, article_id=data.get("article_id")
            ),
        )

    @extend_schema(request=CampaignPreviewSerializer, responses=PREVIEW_RESPONSE)
    @action(detail=False, methods=["post"], url_path="preview")
    def preview_segment(self, request):
        """Counts for a segment before a campaign is saved."""
        serializer = CampaignPreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(campaign_preview(clinic=request.clinic, **serializer.validated_data))

    @extend_schema(request=None, responses=PREVIEW_RESPONSE)
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        campaign = self.get_object()
        return Response(
            campaign_preview(clinic=request.clinic, segment=campaign.segment, body=campaign.body)
        )

    @extend_schema(request=CampaignSendSerializer, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        campaign = self.get_object()
        serializer = CampaignSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = campaign_schedule(
            campaign=campaign, send_at=serializer.validated_data.get("send_at"), by=request.user
        )
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        campaign = campaign_cancel(campaign=self.get_object(), by=request.user)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(responses=CampaignRecipientSerializer(many=True))
    @action(detail=True, methods=["get"])
    def recipients(self, request, pk=None):
        campaign = self.get_object()
        rows = (
            campaign.recipients.filter(patient__in=patients_visible_to(request.membership))
            .select_related("patient", "delivery")
            .annotate(
                result=Subquery(
                    DeliveryRecipient.objects.filter(
                        delivery_id=OuterRef("delivery_id"), patient_id=OuterRef("patient_id")
                    ).values("status")[:1]
                )
            )
            .order_by("pk")
        )
        included = request.query_params.get("included")
        if included in ("true", "false"):
            rows = rows.filter(included=included == "true")
        page = self.paginate_queryset(rows)
        data = CampaignRecipientSerializer(page, many=True).data
        return self.get_paginated_response(data)

    @extend_schema(
        responses=inline_serializer(
            "CampaignResults",
            {
                "included": serializers.IntegerField(),
                "excluded": serializers.IntegerField(),
                "tasks": serializers.IntegerField(),
                "results": inline_serializer(
                    "CampaignResultCount",
                    {
                        "status": serializers.CharField(),
                        "label": serializers.CharField(),
                        "count": serializers.IntegerField(),
                    },
                    many=True,
                ),
            },
        )
    )
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        return Response(campaign_results(campaign=self.get_object()))


# Surveys ---------------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "label": {"type": "string"}},
        },
        "description": 'Read: [{"id", "label"}]. Write: labels (strings) or {"label"} '
        "objects; a label the question had keeps its id.",
    }
)
class ChoicesField(serializers.Field):
    default_error_messages = {"invalid": _("A list of choices (texts) is expected.")}

    def to_representation(self, value):
        return [{"id": c["id"], "label": c["label"]} for c in value or ()]

    def to_internal_value(self, data):
        if not isinstance(data, list) or len(data) > 50:
            self.fail("invalid")
        labels = []
        for item in data:
            label = item.get("label") if isinstance(item, dict) else item
            if not isinstance(label, str):
                self.fail("invalid")
            labels.append(label)
        return labels


class SurveyQuestionSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(
        required=False, allow_null=True, help_text=_("An existing question's id keeps it.")
    )
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    choices = ChoicesField(required=False)
    required = serializers.BooleanField(default=True)
    counts = serializers.BooleanField(default=False)

    class Meta:
        model = SurveyQuestion
        fields = ["id", "position", "kind", "kind_display", "text", "choices", "required", "counts"]
        read_only_fields = ["position"]
        extra_kwargs = {"text": {"max_length": 200}}


SCORE_RULE = _(
    "The mean of the answered score questions with counts=true, on the survey's scale, "
    "rounded to one decimal; choice and text questions do not count."
)


class SurveySerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(default=True)
    questions = SurveyQuestionSerializer(many=True, required=False)
    question = serializers.CharField(
        write_only=True,
        required=False,
        max_length=200,
        help_text=_("Without questions: a new survey's one score question (and a comment)."),
    )
    score_rule = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()

    class Meta:
        model = Survey
        fields = [
            "id",
            "title",
            "scale",
            "is_active",
            "questions",
            "question",
            "score_rule",
            "summary",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def get_score_rule(self, survey) -> str:
        return str(SCORE_RULE)

    def get_summary(self, survey) -> dict:
        return selectors.survey_summary(survey=survey)


class SurveyInviteSerializer(serializers.Serializer):
    patient = VisiblePatientField()
    visit = serializers.PrimaryKeyRelatedField(
        queryset=Visit.objects.none(), required=False, allow_null=True
    )
    appointment = serializers.PrimaryKeyRelatedField(
        queryset=Appointment.objects.none(), required=False, allow_null=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and getattr(request, "clinic", None) is not None:
            self.fields["visit"].queryset = Visit.objects.filter(clinic=request.clinic)
            self.fields["appointment"].queryset = Appointment.objects.filter(clinic=request.clinic)


class SurveyAnswerSerializer(serializers.ModelSerializer):
    class Meta:
        model = SurveyAnswer
        fields = ["question", "choice_ids", "score", "text"]
        read_only_fields = fields


class SurveyInvitationSerializer(serializers.ModelSerializer):
    link = serializers.CharField(read_only=True, default=None)
    patient_name = serializers.CharField(source="patient.name", read_only=True)
    score = serializers.FloatField(read_only=True, allow_null=True)
    answers = SurveyAnswerSerializer(many=True, read_only=True)

    class Meta:
        model = SurveyInvitation
        fields = [
            "id",
            "survey",
            "patient",
            "patient_name",
            "visit",
            "appointment",
            "link",
            "delivery",
            "created_at",
            "expires_at",
            "answered_at",
            "score",
            "answers",
        ]
        read_only_fields = fields


class SurveyViewSet(
    ServiceSaveMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Surveys are switched off (is_active), never deleted: their answers stay."""

    serializer_class = SurveySerializer
    write_capability = "send_messages"

    queryset = Survey.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return Survey.objects.filter(clinic=self.request.clinic).prefetch_related("questions")

    def fields_of(self, survey):
        # A PATCH without `questions` keeps them.
        return {"title": survey.title, "scale": survey.scale, "is_active": survey.is_active}

    def save_with_service(self, data, instance):
        data = dict(data)
        if data.get("questions") is not None:
            data["questions"] = [dict(q) for q in data["questions"]]
        return survey_save(clinic=self.request.clinic, survey=instance, **data)

    @extend_schema(request=SurveyInviteSerializer, responses=SurveyInvitationSerializer)
    @action(detail=True, methods=["post"])
    def invite(self, request, pk=None):
        """Send the survey to one patient by hand. The answer says the link once."""
        survey = self.get_object()
        serializer = SurveyInviteSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        invitation = survey_invite(
            survey=survey,
            patient=data["patient"],
            by=request.user,
            visit=data.get("visit"),
            appointment=data.get("appointment"),
        )
        return Response(SurveyInvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=SurveyInvitationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def invitations(self, request, pk=None):
        survey = self.get_object()
        rows = (
            survey.invitations.filter(patient__in=patients_visible_to(request.membership))
            .select_related("patient")
            .prefetch_related("answers")
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(SurveyInvitationSerializer(page, many=True).data)


# Referrals -------------------------------------------------------------------------------


class ReferralsView(APIView):
    """Referral counts per referring patient and per doctor (from Patient.referred_by)."""

    @extend_schema(
        responses=inline_serializer(
            "Referrals",
            {
                "patients": inline_serializer(
                    "PatientReferrals",
                    {
                        "patient": serializers.IntegerField(),
                        "name": serializers.CharField(),
                        "referrals": serializers.IntegerField(),
                    },
                    many=True,
                ),
                "doctors": inline_serializer(
                    "DoctorReferrals",
                    {
                        "doctor_id": serializers.IntegerField(allow_null=True),
                        "referrals": serializers.IntegerField(),
                        "referrers": serializers.IntegerField(),
                    },
                    many=True,
                ),
            },
        )
    )
    def get(self, request):
        patients = selectors.referral_counts_by_patient(clinic=request.clinic).filter(
            pk__in=patients_visible_to(request.membership)
        )[:200]
        return Response(
            {
                "patients": [
                    {"patient": p.pk, "name": p.name, "referrals": p.referral_count}
                    for p in patients
                ],
                "doctors": selectors.referral_counts_by_doctor(clinic=request.clinic),
            }
        )
