"""The content API. Serializers validate shape; services do the work. Every queryset starts
from request.clinic, so another clinic's object is a 404."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from content import selectors, services
from content.models import (
    Article,
    ArticleStatus,
    Campaign,
    CampaignRecipient,
    ContentSettings,
    MessageTemplate,
    RedLinePhrase,
    Survey,
    SurveyInvitation,
)
from crm.api import ClinicScopedRelatedField
from crm.models import Role
from patients.models import Patient, PatientTag

EDITORS = (Role.ADMIN, Role.OPERATIONS)
SENDERS = (Role.ADMIN, Role.OPERATIONS, Role.DOCTOR, Role.ASSISTANT)


class HitSerializer(serializers.Serializer):
    phrase = serializers.CharField()
    reason = serializers.CharField()


def hits_data(hits):
    return [{"phrase": h.phrase, "reason": h.reason} for h in hits]


class ServiceSaveMixin:
    """Create and update call a service with the request's clinic and user."""

    def perform_create(self, serializer):
        serializer.instance = self.save_with_service(serializer.validated_data, None)

    def perform_update(self, serializer):
        data = {**self.fields_of(serializer.instance), **serializer.validated_data}
        serializer.instance = self.save_with_service(data, serializer.instance)


# Red lines and settings ------------------------------------------------------------------


class RedLinePhraseSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(default=True)

    class Meta:
        model = RedLinePhrase
        fields = ["id", "phrase", "reason", "is_active", "created_at"]
        read_only_fields = ["created_at"]


class RedLineCheckSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)


class RedLinePhraseViewSet(ServiceSaveMixin, viewsets.ModelViewSet):
    """The clinic's forbidden claims. Everyone reads; admins and operations edit."""

    serializer_class = RedLinePhraseSerializer
    write_roles = EDITORS
    pagination_class = None

    def get_queryset(self):
        services.content_settings_for(clinic=self.request.clinic)
        return RedLinePhrase.objects.filter(clinic=self.request.clinic)

    def fields_of(self, row):
        return {"phrase": row.phrase, "reason": row.reason, "is_active": row.is_active}

    def save_with_service(self, data, instance):
        return services.redline_phrase_save(clinic=self.request.clinic, instance=instance, **data)

    @extend_schema(request=RedLineCheckSerializer, responses=HitSerializer(many=True))
    @action(detail=False, methods=["post"], url_path="check")
    def check(self, request):
        """Any member checks a text before using it: the hits and why."""
        serializer = RedLineCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hits = services.redline_check(clinic=request.clinic, text=serializer.validated_data["text"])
        return Response({"ok": not hits, "hits": hits_data(hits)})

    def get_permissions(self):
        if self.action == "check":  # a read, though it is a POST
            self.write_roles = None
        return super().get_permissions()


class ContentSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContentSettings
        fields = [
            "emergency_notice_enabled",
            "emergency_notice",
            "per_customer_daily_cap",
            "per_customer_weekly_cap",
            "campaigns_per_day_cap",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]


class ContentSettingsView(APIView):
    """The clinic's sending rules; admins change them."""

    write_roles = (Role.ADMIN,)

    @extend_schema(responses=ContentSettingsSerializer)
    def get(self, request):
        return Response(
            ContentSettingsSerializer(services.content_settings_for(clinic=request.clinic)).data
        )

    @extend_schema(request=ContentSettingsSerializer, responses=ContentSettingsSerializer)
    def patch(self, request):
        row = services.content_settings_for(clinic=request.clinic)
        serializer = ContentSettingsSerializer(row, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        row = services.content_settings_update(clinic=request.clinic, **serializer.validated_data)
        return Response(ContentSettingsSerializer(row).data)


# Articles --------------------------------------------------------------------------------


class ArticleSerializer(serializers.ModelSerializer):
    disease_tags = ClinicScopedRelatedField(
        queryset=PatientTag.objects.all(), many=True, required=False
    )
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    public_link = serializers.SerializerMethodField()
    readers = serializers.IntegerField(read_only=True, default=0)
    opens = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Article
        fields = [
            "id",
            "title",
            "body",
            "disease_tags",
            "author",
            "status",
            "status_display",
            "published_at",
            "public_link",
            "readers",
            "opens",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["author", "status", "published_at", "created_at", "updated_at"]

    def get_public_link(self, article) -> str | None:
        if article.status != ArticleStatus.PUBLISHED:
            return None
        return services.article_link(article=article)


class ArticleStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ArticleStatus.choices)


class ArticleLinkSerializer(serializers.Serializer):
    patient = ClinicScopedRelatedField(queryset=Patient.objects.all())


class ArticleViewSet(
    ServiceSaveMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The health-education library. Members write; doctors, admins and operations publish.
    Articles are not deleted (their readers would be lost): move them back to draft."""

    serializer_class = ArticleSerializer
    filterset_fields = ["status"]
    ordering_fields = ["updated_at", "published_at", "title"]

    def get_queryset(self):
        return selectors.article_stats(clinic=self.request.clinic).prefetch_related("disease_tags")

    def fields_of(self, article):
        return {"title": article.title, "body": article.body}

    def save_with_service(self, data, instance):
        tags = data.get("disease_tags")
        if instance is None:
            return services.article_create(
                clinic=self.request.clinic,
                title=data.get("title", ""),
                body=data.get("body", ""),
                author=self.request.user,
                tags=tags,
            )
        return services.article_update(
            article=instance, title=data.get("title"), body=data.get("body"), tags=tags
        )

    def _fresh(self, pk):
        return self.get_serializer(self.get_queryset().get(pk=pk)).data

    @extend_schema(request=ArticleStatusSerializer, responses=ArticleSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """Move the article: in_review, published (red-line checked) or back to draft."""
        article = self.get_object()
        serializer = ArticleStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.article_set_status(
            article=article, status=serializer.validated_data["status"], by=request.user
        )
        return Response(self._fresh(article.pk))

    @extend_schema(
        request=ArticleLinkSerializer,
        responses=inline_serializer("ArticleLink", {"link": serializers.CharField()}),
    )
    @action(detail=True, methods=["post"])
    def link(self, request, pk=None):
        """A tracked link for one patient: their opens are counted."""
        article = self.get_object()
        serializer = ArticleLinkSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        link = services.article_link(article=article, patient=serializer.validated_data["patient"])
        return Response({"link": link})


# Message templates -----------------------------------------------------------------------


class MessageTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageTemplate
        fields = ["id", "name", "body", "created_by", "created_at", "updated_at"]
        read_only_fields = ["created_by", "created_at", "updated_at"]


class PreviewSerializer(serializers.Serializer):
    patient = ClinicScopedRelatedField(queryset=Patient.objects.all())
    revisit_date = serializers.DateField(required=False, help_text=_("Fills {复诊日期}."))


class MessageTemplateViewSet(ServiceSaveMixin, viewsets.ModelViewSet):
    serializer_class = MessageTemplateSerializer
    write_roles = SENDERS

    def get_queryset(self):
        return MessageTemplate.objects.filter(clinic=self.request.clinic)

    def fields_of(self, template):
        return {"name": template.name, "body": template.body}

    def save_with_service(self, data, instance):
        return services.message_template_save(
            clinic=self.request.clinic,
            name=data.get("name", ""),
            body=data.get("body", ""),
            by=self.request.user,
            template=instance,
        )

    @extend_schema(
        request=PreviewSerializer,
        responses=inline_serializer(
            "TemplatePreview",
            {"text": serializers.CharField(), "hits": HitSerializer(many=True)},
        ),
    )
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        """The text as one real patient would receive it (with the emergency notice)."""
        template = self.get_object()
        serializer = PreviewSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        extra = {}
        if serializer.validated_data.get("revisit_date"):
            extra["复诊日期"] = serializer.validated_data["revisit_date"]
        text = services.render(
            template_text=template.body, patient=serializer.validated_data["patient"], extra=extra
        )
        text = services.emergency_notice_append(clinic=request.clinic, text=text)
        hits = services.redline_check(clinic=request.clinic, text=text)
        return Response({"text": text, "hits": hits_data(hits)})


# Campaigns -------------------------------------------------------------------------------


class CampaignSerializer(serializers.ModelSerializer):
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    segment = serializers.DictField(required=False)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "body",
            "segment",
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


class CampaignPreviewSerializer(serializers.Serializer):
    segment = serializers.DictField(required=False, default=dict)
    body = serializers.CharField(required=False, allow_blank=True, default="")


class CampaignSendSerializer(serializers.Serializer):
    send_at = serializers.DateTimeField(required=False, allow_null=True, help_text=_("Empty: now."))


class CampaignRecipientSerializer(serializers.ModelSerializer):
    patient_name = serializers.CharField(source="patient.name", read_only=True)
    reason_display = serializers.CharField(source="get_reason_display", read_only=True)
    delivery_status = serializers.CharField(source="delivery.status", default=None)

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
        ]
        read_only_fields = fields


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
    write_roles = SENDERS
    filterset_fields = ["status"]

    def get_queryset(self):
        return Campaign.objects.filter(clinic=self.request.clinic)

    def fields_of(self, campaign):
        return {"name": campaign.name, "body": campaign.body, "segment": campaign.segment}

    def save_with_service(self, data, instance):
        return services.campaign_save(
            clinic=self.request.clinic,
            name=data.get("name", ""),
            body=data.get("body", ""),
            segment=data.get("segment"),
            by=self.request.user,
            campaign=instance,
        )

    @extend_schema(request=CampaignPreviewSerializer, responses=PREVIEW_RESPONSE)
    @action(detail=False, methods=["post"], url_path="preview")
    def preview_segment(self, request):
        """Counts for a segment before a campaign is saved."""
        serializer = CampaignPreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            services.campaign_preview(clinic=request.clinic, **serializer.validated_data)
        )

    @extend_schema(request=None, responses=PREVIEW_RESPONSE)
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        campaign = self.get_object()
        return Response(
            services.campaign_preview(
                clinic=request.clinic, segment=campaign.segment, body=campaign.body
            )
        )

    @extend_schema(request=CampaignSendSerializer, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        campaign = self.get_object()
        serializer = CampaignSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_schedule(
            campaign=campaign, send_at=serializer.validated_data.get("send_at"), by=request.user
        )
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        campaign = services.campaign_cancel(campaign=self.get_object(), by=request.user)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(responses=CampaignRecipientSerializer(many=True))
    @action(detail=True, methods=["get"])
    def recipients(self, request, pk=None):
        campaign = self.get_object()
        rows = campaign.recipients.select_related("patient", "delivery").order_by("pk")
        included = request.query_params.get("included")
        if included in ("true", "false"):
            rows = rows.filter(included=included == "true")
        page = self.paginate_queryset(rows)
        data = CampaignRecipientSerializer(page, many=True).data
        return self.get_paginated_response(data)

    @extend_schema(
        responses=inline_serializer("CampaignResults", {"included": serializers.IntegerField()})
    )
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        return Response(services.campaign_results(campaign=self.get_object()))


# Surveys ---------------------------------------------------------------------------------


class SurveySerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(default=True)
    summary = serializers.SerializerMethodField()

    class Meta:
        model = Survey
        fields = ["id", "title", "question", "scale", "is_active", "summary", "created_at"]
        read_only_fields = ["created_at"]

    def get_summary(self, survey) -> dict:
        return selectors.survey_summary(survey=survey)


class SurveyInviteSerializer(serializers.Serializer):
    patient = ClinicScopedRelatedField(queryset=Patient.objects.all())


class SurveyInvitationSerializer(serializers.ModelSerializer):
    link = serializers.CharField(read_only=True, default=None)
    patient_name = serializers.CharField(source="patient.name", read_only=True)

    class Meta:
        model = SurveyInvitation
        fields = [
            "id",
            "survey",
            "patient",
            "patient_name",
            "link",
            "delivery",
            "created_at",
            "expires_at",
            "answered_at",
            "score",
            "comment",
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
    write_roles = SENDERS

    def get_queryset(self):
        return Survey.objects.filter(clinic=self.request.clinic)

    def fields_of(self, survey):
        return {
            "title": survey.title,
            "question": survey.question,
            "scale": survey.scale,
            "is_active": survey.is_active,
        }

    def save_with_service(self, data, instance):
        return services.survey_save(clinic=self.request.clinic, survey=instance, **data)

    @extend_schema(request=SurveyInviteSerializer, responses=SurveyInvitationSerializer)
    @action(detail=True, methods=["post"])
    def invite(self, request, pk=None):
        """Send the survey to one patient by hand. The answer says the link once."""
        survey = self.get_object()
        serializer = SurveyInviteSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        invitation = services.survey_invite(
            survey=survey, patient=serializer.validated_data["patient"], by=request.user
        )
        return Response(SurveyInvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=SurveyInvitationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def invitations(self, request, pk=None):
        survey = self.get_object()
        rows = survey.invitations.select_related("patient")
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
        patients = selectors.referral_counts_by_patient(clinic=request.clinic)[:200]
        return Response(
            {
                "patients": [
                    {"patient": p.pk, "name": p.name, "referrals": p.referral_count}
                    for p in patients
                ],
                "doctors": selectors.referral_counts_by_doctor(clinic=request.clinic),
            }
        )
