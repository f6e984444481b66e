"""The content API. Serializers validate shape; services do the work. Every queryset starts
from request.clinic, so another clinic's object is a 404."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from content import selectors
from content.articles import article_create, article_link, article_set_status, article_update
from content.models import Article, ArticleStatus, MessageTemplate
from content.templates_service import message_template_save
from content.templating import render
from crm.api import ClinicScopedRelatedField, DateField
from patients.api import VisiblePatientField
from patients.models import PatientTag
from wechat.models import ContentSettings, RedLinePhrase
from wechat.redline import (
    content_settings_for,
    content_settings_get,
    content_settings_update,
    emergency_notice_append,
    redline_check,
    redline_phrase_save,
)


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
    write_capability = "edit_content"
    pagination_class = None

    queryset = RedLinePhrase.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return RedLinePhrase.objects.filter(clinic=self.request.clinic)

    def fields_of(self, row):
        return {"phrase": row.phrase, "reason": row.reason, "is_active": row.is_active}

    def save_with_service(self, data, instance):
        return redline_phrase_save(clinic=self.request.clinic, instance=instance, **data)

    @extend_schema(
        request=RedLineCheckSerializer,
        responses=inline_serializer(
            "RedLineCheckResult",
            {"ok": serializers.BooleanField(), "hits": HitSerializer(many=True)},
        ),
    )
    @action(detail=False, methods=["post"], url_path="check")
    def check(self, request):
        """Any member checks a text before using it: the hits and why."""
        serializer = RedLineCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hits = redline_check(clinic=request.clinic, text=serializer.validated_data["text"])
        return Response({"ok": not hits, "hits": hits_data(hits)})

    def get_permissions(self):
        if self.action == "check":  # a read, though it is a POST
            self.write_capability = None
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

    write_capability = "manage_clinic"

    @extend_schema(responses=ContentSettingsSerializer)
    def get(self, request):
        return Response(ContentSettingsSerializer(content_settings_get(clinic=request.clinic)).data)

    @extend_schema(request=ContentSettingsSerializer, responses=ContentSettingsSerializer)
    def patch(self, request):
        row = content_settings_for(clinic=request.clinic)
        serializer = ContentSettingsSerializer(row, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        row = content_settings_update(clinic=request.clinic, **serializer.validated_data)
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
        return article_link(article=article)


class ArticleStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ArticleStatus.choices)


class ArticleLinkSerializer(serializers.Serializer):
    patient = VisiblePatientField()


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

    queryset = Article.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return selectors.article_stats(clinic=self.request.clinic).prefetch_related("disease_tags")

    def fields_of(self, article):
        return {"title": article.title, "body": article.body}

    def save_with_service(self, data, instance):
        tags = data.get("disease_tags")
        if instance is None:
            return article_create(
                clinic=self.request.clinic,
                title=data.get("title", ""),
                body=data.get("body", ""),
                author=self.request.user,
                tags=tags,
            )
        return article_update(
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
        article_set_status(
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
        link = article_link(article=article, patient=serializer.validated_data["patient"])
        return Response({"link": link})


# Message templates -----------------------------------------------------------------------


class MessageTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageTemplate
        fields = ["id", "name", "body", "created_by", "created_at", "updated_at"]
        read_only_fields = ["created_by", "created_at", "updated_at"]


class PreviewSerializer(serializers.Serializer):
    patient = VisiblePatientField()
    revisit_date = DateField(required=False, help_text=_("Fills {复诊日期}."))


class MessageTemplateViewSet(ServiceSaveMixin, viewsets.ModelViewSet):
    serializer_class = MessageTemplateSerializer
    write_capability = "send_messages"

    queryset = MessageTemplate.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return MessageTemplate.objects.filter(clinic=self.request.clinic)

    def fields_of(self, template):
        return {"name": template.name, "body": template.body}

    def save_with_service(self, data, instance):
        return message_template_save(
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
        text = render(
            template_text=template.body, patient=serializer.validated_data["patient"], extra=extra
        )
        text = emergency_notice_append(clinic=request.clinic, text=text)
        hits = redline_check(clinic=request.clinic, text=text)
        return Response({"text": text, "hits": hits_data(hits)})
