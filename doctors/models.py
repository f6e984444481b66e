"""Doctor IP (seeds 000, 001) and doctor operations (seed 004): a doctor's positioning, public
accounts and their followers, the content calendar, and onboarding for a chain."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Clinic

# The five factors of a doctor's positioning (定位), seed 000.
POSITIONING_FIELDS = ("strengths", "interests", "personality", "patient_needs", "resources")


class DoctorProfile(models.Model):
    """A doctor of the clinic, as the public sees them: their positioning (定位)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="doctor_profiles")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="doctor_profiles"
    )
    strengths = models.TextField(_("clinical strengths"), blank=True)
    interests = models.TextField(_("interests"), blank=True)
    personality = models.TextField(_("personality"), blank=True)
    patient_needs = models.TextField(_("target patients' needs"), blank=True)
    resources = models.TextField(_("resources"), blank=True)
    tags = models.JSONField(_("positioning tags"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("doctor profile")
        verbose_name_plural = _("doctor profiles")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "user"], name="doctorprofile_one_per_doctor")
        ]

    def __str__(self):
        return str(self.user)


class PositioningVersion(models.Model):
    """Every edit of a positioning, so that a change can be read against the figures."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey(DoctorProfile, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    strengths = models.TextField(_("clinical strengths"), blank=True)
    interests = models.TextField(_("interests"), blank=True)
    personality = models.TextField(_("personality"), blank=True)
    patient_needs = models.TextField(_("target patients' needs"), blank=True)
    resources = models.TextField(_("resources"), blank=True)
    tags = models.JSONField(_("positioning tags"), default=list, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("positioning version")
        verbose_name_plural = _("positioning versions")
        ordering = ["profile", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "profile", "number"], name="positioningversion_unique_number"
            )
        ]

    def __str__(self):
        return f"{self.profile} v{self.number}"


class Platform(models.TextChoices):
    DOUYIN = "douyin", _("Douyin")
    XIAOHONGSHU = "xiaohongshu", _("Xiaohongshu")
    KUAISHOU = "kuaishou", _("Kuaishou")
    SHIPINHAO = "shipinhao", _("WeChat Channels")
    TOUTIAO = "toutiao", _("Toutiao")
    OTHER = "other", _("Other")


class PublicAccount(models.Model):
    """A doctor's account on a public platform: the "sea"."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    doctor = models.ForeignKey(DoctorProfile, on_delete=models.CASCADE, related_name="accounts")
    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices)
    name = models.CharField(_("account name"), max_length=60)
    handle = models.CharField(_("handle"), max_length=60, blank=True)
    url = models.URLField(_("URL"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("public account")
        verbose_name_plural = _("public accounts")
        ordering = ["doctor", "platform", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(platform__in=Platform.values), name="publicaccount_platform"
            )
        ]

    def __str__(self):
        return f"{self.get_platform_display()} · {self.name}"


class FollowerCount(models.Model):
    """Followers of an account on a day, entered by hand or imported: a time series."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(PublicAccount, on_delete=models.CASCADE, related_name="counts")
    date = models.DateField(_("date"))
    followers = models.PositiveIntegerField(_("followers"))

    class Meta:
        verbose_name = _("follower count")
        verbose_name_plural = _("follower counts")
        ordering = ["account", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "account", "date"], name="followercount_one_per_day"
            )
        ]

    def __str__(self):
        return f"{self.account} {self.date}: {self.followers}"


class PostFormat(models.TextChoices):
    SHORT_VIDEO = "short_video", _("Short video")
    ARTICLE = "article", _("Article")
    LIVE = "live", _("Live stream")
    CASE_STORY = "case_story", _("Case story")


class PostStatus(models.TextChoices):
    IDEA = "idea", _("Idea")
    SCRIPTED = "scripted", _("Scripted")
    SHOT = "shot", _("Shot")
    PUBLISHED = "published", _("Published")


class Post(models.Model):
    """A planned or published post of the content calendar (内容矩阵). Its platform and doctor
    are its account's. A published post may get its own channel code (kind post)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(PublicAccount, on_delete=models.PROTECT, related_name="posts")
    topic = models.CharField(_("topic"), max_length=100)
    disease_tag = models.ForeignKey(
        "patients.PatientTag",
        verbose_name=_("disease tag"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    format = models.CharField(_("format"), max_length=20, choices=PostFormat.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=PostStatus.choices, default=PostStatus.IDEA
    )
    publish_date = models.DateField(_("publish date"), null=True, blank=True)
    script = models.TextField(_("script"), blank=True)
    cost = models.DecimalField(
        _("cost (yuan)"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    channel_code = models.OneToOneField(
        "wechat.ChannelCode",
        verbose_name=_("channel code"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="post",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        ordering = ["-publish_date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="published") | models.Q(publish_date__isnull=False),
                name="post_published_has_date",
            ),
            models.CheckConstraint(
                condition=models.Q(cost__isnull=True) | models.Q(cost__gte=0),
                name="post_cost_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(channel_code__isnull=True) | models.Q(status="published"),
                name="post_code_only_when_published",
            ),
        ]
        indexes = [
            # The calendar: a clinic's posts by date.
            models.Index(fields=["clinic", "publish_date"], name="post_clinic_date"),
        ]

    def __str__(self):
        return self.topic


class RecruitmentSource(models.TextChoices):
    CONFERENCE = "conference", _("Conference")
    COLLEAGUE = "colleague", _("Colleague referral")
    VISIT = "visit", _("Recruitment visit")
    OTHER = "other", _("Other")


def licence_path(instance, filename):
    extension = filename.rsplit(".", 1)[-1].lower()
    return f"licences/{instance.clinic_id}/{instance.profile_id}-{timezone.now():%Y%m%d%H%M%S}.{extension}"


class Onboarding(models.Model):
    """A new doctor of a chain (seed 004): where they came from, verified, trained, watched."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    profile = models.OneToOneField(
        DoctorProfile, on_delete=models.CASCADE, related_name="onboarding"
    )
    recruitment_source = models.CharField(
        _("recruitment source"), max_length=20, choices=RecruitmentSource.choices
    )
    recruitment_note = models.CharField(_("recruitment note"), max_length=200, blank=True)
    licence_file = models.FileField(_("licence photo"), upload_to=licence_path, blank=True)
    hospital = models.CharField(_("hospital"), max_length=100, blank=True)
    army_hospital = models.BooleanField(
        _("army hospital (not in the public registry)"), default=False
    )
    registry_checked_by = models.CharField(_("registry checked by"), max_length=50, blank=True)
    registry_checked_on = models.DateField(_("registry checked on"), null=True, blank=True)
    trained_product = models.BooleanField(_("trained: using CareLoop"), default=False)
    trained_services = models.BooleanField(_("trained: services"), default=False)
    trained_settlement = models.BooleanField(_("trained: settlement"), default=False)
    started_on = models.DateField(_("started on"), default=timezone.localdate)

    class Meta:
        verbose_name = _("doctor onboarding")
        verbose_name_plural = _("doctor onboardings")
        ordering = ["-started_on", "-id"]
        constraints = [
            # A registry check names who checked and when, or neither.
            models.CheckConstraint(
                condition=(
                    models.Q(registry_checked_by="", registry_checked_on__isnull=True)
                    | (
                        ~models.Q(registry_checked_by="")
                        & models.Q(registry_checked_on__isnull=False)
                    )
                ),
                name="onboarding_registry_check_complete",
            )
        ]

    def __str__(self):
        return str(self.profile)

    @property
    def verified(self) -> bool:
        registry_ok = self.army_hospital or bool(self.registry_checked_on)
        return bool(self.licence_file) and registry_ok

    @property
    def trained(self) -> bool:
        return self.trained_product and self.trained_services and self.trained_settlement
