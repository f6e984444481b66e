"""The doctors API. Serializers validate shape; services and selectors do the work. Every
queryset starts from request.clinic and the profiles the member may see: a doctor their own,
operations and admins every doctor of the clinic; anyone else's is a 404."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api import ClinicScopedRelatedField, DateField
from crm.idempotency import submit_once
from doctors import selectors, services
from doctors.models import (
    POSITIONING_FIELDS,
    DoctorProfile,
    FollowerCount,
    PositioningVersion,
    Post,
    PublicAccount,
)
from patients.models import PatientTag


def visible_profiles(request):
    return selectors.profiles_visible_to(membership=request.membership)


class VisibleProfileField(ClinicScopedRelatedField):
    def get_queryset(self):
        return visible_profiles(self.context["request"])


class VisibleAccountField(ClinicScopedRelatedField):
    def get_queryset(self):
        profiles = visible_profiles(self.context["request"])
        return PublicAccount.objects.filter(doctor__in=profiles)


# Profiles and positioning ------------------------------------------------------------------


class PositioningVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PositioningVersion
        fields = ["id", "number", *POSITIONING_FIELDS, "tags", "by", "at"]


class DoctorProfileSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    tags = serializers.ListField(child=serializers.CharField(max_length=30), required=False)

    class Meta:
        model = DoctorProfile
        fields = ["id", "user", "name", *POSITIONING_FIELDS, "tags", "updated_at"]
        read_only_fields = ["user", "updated_at"]

    def get_name(self, profile) -> str:
        return selectors.doctor_name(profile)


class DoctorProfileViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Doctors' positioning (定位). A doctor reads and edits their own; operations and admins
    every doctor's. Each edit is a new version (`versions`)."""

    serializer_class = DoctorProfileSerializer
    capability = "see_doctor_ip"

    queryset = DoctorProfile.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        return visible_profiles(self.request)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.positioning_save(
            profile=serializer.instance, by=self.request.user, **data
        )

    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        profile = self.get_object()
        return Response(PositioningVersionSerializer(profile.versions.all(), many=True).data)


# Accounts and followers ------------------------------------------------------------------


class PublicAccountSerializer(serializers.ModelSerializer):
    doctor = VisibleProfileField(queryset=DoctorProfile.objects.all())
    platform_label = serializers.CharField(source="get_platform_display", read_only=True)
    latest_followers = serializers.SerializerMethodField()

    class Meta:
        model = PublicAccount
        fields = [
            "id",
            "doctor",
            "platform",
            "platform_label",
            "name",
            "handle",
            "url",
            "latest_followers",
        ]

    def get_latest_followers(self, account) -> int | None:
        latest = account.counts.order_by("-date").first()
        return latest.followers if latest else None


class FollowerCountSerializer(serializers.ModelSerializer):
    class Meta:
        model = FollowerCount
        fields = ["id", "date", "followers"]


class FollowerImportSerializer(serializers.Serializer):
    file = serializers.FileField()


class PublicAccountViewSet(viewsets.ModelViewSet):
    """Doctors' public accounts (the "sea"), with their follower series."""

    serializer_class = PublicAccountSerializer
    capability = "see_doctor_ip"

    queryset = PublicAccount.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        accounts = PublicAccount.objects.filter(
            clinic=self.request.clinic, doctor__in=visible_profiles(self.request)
        ).select_related("doctor")
        doctor = self.request.query_params.get("doctor")
        if doctor and doctor.isdigit():
            accounts = accounts.filter(doctor_id=doctor)
        return accounts

    def perform_create(self, serializer):
        serializer.instance = services.account_save(**serializer.validated_data)

    def perform_update(self, serializer):
        row = serializer.instance
        data = {
            "doctor": row.doctor,
            "platform": row.platform,
            "name": row.name,
            "handle": row.handle,
            "url": row.url,
            **serializer.validated_data,
        }
        serializer.instance = services.account_save(instance=row, **data)

    def perform_destroy(self, instance):
        if instance.posts.exists():
            raise ValidationError(_("An account with posts is kept for its figures."))
        instance.delete()

    @action(detail=True, methods=["get", "post"])
    def followers(self, request, pk=None):
        """GET the series; POST {date, followers} adds or replaces a day."""
        account = self.get_object()
        if request.method == "POST":
            serializer = FollowerCountSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            services.follower_count_record(
                account=account,
                day=serializer.validated_data["date"],
                followers=serializer.validated_data["followers"],
            )
        return Response(FollowerCountSerializer(account.counts.all(), many=True).data)

    @action(
        detail=True,
        methods=["post"],
        url_path="import-followers",
        parser_classes=[MultiPartParser, FormParser],
        serializer_class=FollowerImportSerializer,
    )
    def import_followers(self, request, pk=None):
        """A CSV with columns date, followers: all rows or none."""
        account = self.get_object()
        serializer = FollowerImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        if upload.size > 2 * 1024 * 1024:
            raise ValidationError({"file": [_("The file is larger than 2 MB.")]})
        imported = services.follower_counts_import(account=account, data=upload.read())
        return Response({"imported": imported})


# The content calendar ----------------------------------------------------------------------


class PostSerializer(serializers.ModelSerializer):
    account = VisibleAccountField(queryset=PublicAccount.objects.all())
    disease_tag = ClinicScopedRelatedField(
        queryset=PatientTag.objects.all(), required=False, allow_null=True
    )
    doctor = serializers.IntegerField(source="account.doctor_id", read_only=True)
    platform = serializers.CharField(source="account.platform", read_only=True)
    platform_label = serializers.CharField(source="account.get_platform_display", read_only=True)
    format_label = serializers.CharField(source="get_format_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    disease_tag_name = serializers.CharField(source="disease_tag.name", read_only=True)
    code_state = serializers.CharField(source="channel_code.state", read_only=True)
    code_qr = serializers.CharField(source="channel_code.qr_code", read_only=True)

    class Meta:
        model = Post
        fields = [
            "id",
            "account",
            "doctor",
            "platform",
            "platform_label",
            "topic",
            "disease_tag",
            "disease_tag_name",
            "format",
            "format_label",
            "status",
            "status_label",
            "publish_date",
            "script",
            "cost",
            "channel_code",
            "code_state",
            "code_qr",
        ]
        read_only_fields = ["channel_code"]


class PostViewSet(viewsets.ModelViewSet):
    """The content calendar (内容矩阵). Scripts pass the clinic's red-line check or are
    refused with the phrase and why; `publish`, then `channel-code` for the post's own code."""

    serializer_class = PostSerializer
    capability = "see_doctor_ip"

    queryset = Post.objects.none()  # the schema's model; requests: get_queryset

    def get_queryset(self):
        posts = Post.objects.filter(
            clinic=self.request.clinic, account__doctor__in=visible_profiles(self.request)
        ).select_related("account", "disease_tag", "channel_code")
        doctor = self.request.query_params.get("doctor")
        if doctor and doctor.isdigit():
            posts = posts.filter(account__doctor_id=doctor)
        return posts

    def perform_create(self, serializer):
        # A double click on the calendar's form (or a client's retry) sends the same
        # Idempotency-Key: one post.
        clinic = self.request.clinic
        serializer.instance, _created = submit_once(
            clinic=clinic,
            kind="post",
            token=self.request.headers.get("Idempotency-Key", ""),
            create=lambda: services.post_save(clinic=clinic, **serializer.validated_data),
            find=lambda pk: Post.objects.get(clinic=clinic, pk=pk),
        )

    def perform_update(self, serializer):
        row = serializer.instance
        fields = ("account", "topic", "format", "status", "disease_tag", "publish_date")
        data = {f: getattr(row, f) for f in (*fields, "script", "cost")}
        data.update(serializer.validated_data)
        serializer.instance = services.post_save(clinic=self.request.clinic, instance=row, **data)

    def perform_destroy(self, instance):
        services.post_delete(post=instance)

    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        post = services.post_publish(post=self.get_object())
        return Response(PostSerializer(post, context=self.get_serializer_context()).data)

    @action(detail=True, methods=["post"], url_path="channel-code")
    def channel_code(self, request, pk=None):
        post = self.get_object()
        if not request.membership.can_manage_doctor_ip:
            raise PermissionDenied(_("Operations or an administrator makes a post's code."))
        post = services.post_code_create(post=post)
        return Response(PostSerializer(post, context=self.get_serializer_context()).data)


# The funnel --------------------------------------------------------------------------------


class FunnelQuerySerializer(serializers.Serializer):
    start = DateField(required=False)
    end = DateField(required=False)
    doctor = serializers.IntegerField(required=False, min_value=1)

    def validate(self, data):
        today = timezone.localdate()
        data.setdefault("end", today)
        data.setdefault("start", data["end"] - timedelta(days=89))
        if data["start"] > data["end"]:
            raise serializers.ValidationError({"start": [_("The start is after the end.")]})
        if (data["end"] - data["start"]).days > 731:
            raise serializers.ValidationError({"start": [_("Choose at most two years.")]})
        return data


def _money(rows: list[dict]) -> list[dict]:
    """Amounts as strings with two decimals, as DRF's decimal fields give them."""
    return [
        {k: (f"{v:.2f}" if isinstance(v, Decimal) else v) for k, v in row.items()} for row in rows
    ]


class FunnelView(APIView):
    """The sea-to-pond funnel per doctor, platform and post for patients who arrived through
    a post's code in [start, end] (default: the last 90 days); see doctors/selectors.py."""

    capability = "see_doctor_ip"

    @extend_schema(
        parameters=[FunnelQuerySerializer],
        responses=inline_serializer(
            "DoctorFunnel",
            {
                "start": DateField(),
                "end": DateField(),
                # One row per doctor, platform and post: counts of each funnel stage, followers
                # gained, cost and cost per patient (see doctors/selectors.py).
                "doctors": serializers.ListField(child=serializers.DictField()),
                "platforms": serializers.ListField(child=serializers.DictField()),
                "posts": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request):
        query = FunnelQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        profiles = visible_profiles(request)
        if "doctor" in query.validated_data:
            profiles = profiles.filter(pk=query.validated_data["doctor"])
            if not profiles.exists():
                raise NotFound()
        result = selectors.funnel(
            clinic=request.clinic,
            start=query.validated_data["start"],
            end=query.validated_data["end"],
            profiles=profiles,
        )
        return Response(
            {
                "start": query.validated_data["start"],
                "end": query.validated_data["end"],
                "doctors": _money(result.doctors),
                "platforms": _money(result.platforms),
                "posts": _money(result.posts),
            }
        )
