"""Content the clinic sends its patients: articles, templates, campaigns, surveys, and the
red lines every patient-facing text is checked against (seed 003, 注意红线与合规性)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import Clinic
from wechat.audience import Exclusion


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    PUBLISHED = "published", _("Published")


class Article(models.Model):
    """A health-education article (科普). The body is Markdown, rendered and sanitised."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="articles")
    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("body (Markdown)"))
    disease_tags = models.ManyToManyField(
        "patients.PatientTag", verbose_name=_("disease tags"), blank=True, related_name="+"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=20, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ArticleStatus.values), name="article_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="published", published_at__isnull=False)
                | ~Q(status="published"),
                name="article_published_has_date",
            ),
        ]
        # The library list: a clinic's articles by status.
        indexes = [models.Index(fields=["clinic", "status"], name="article_clinic_status")]

    def __str__(self):
        return self.title


class ArticleView(models.Model):
    """A patient who opened an article from their tracked link: one row per patient and
    article, with how often they opened it."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="views")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="article_views"
    )
    opens = models.PositiveIntegerField(_("opens"), default=1)
    first_viewed_at = models.DateTimeField(_("first read at"), default=timezone.now)
    last_viewed_at = models.DateTimeField(_("last read at"), default=timezone.now)

    class Meta:
        verbose_name = _("article reader")
        verbose_name_plural = _("article readers")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "article", "patient"], name="articleview_unique"
            )
        ]

    def __str__(self):
        return f"{self.patient_id} → {self.article_id}"


class ArticleLinkSource(models.TextChoices):
    MESSAGE = "message", _("Single message")
    CARE_STEP = "care_step", _("Care-plan step")
    CAMPAIGN = "campaign", _("Campaign")


class ArticleLink(models.Model):
    """A tracked link to an article that a message carries. Per patient for a single message
    or a care-plan step (the first read goes on the patient's timeline); per campaign and
    sender for a campaign, whose WeCom task has one text for all of a sender's customers
    (reads counted, not per patient). The link carries a random token; only its SHA-256 is
    stored."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="links")
    source = models.CharField(_("source"), max_length=20, choices=ArticleLinkSource.choices)
    patient = models.ForeignKey(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="article_links",
    )
    campaign = models.ForeignKey(
        "content.Campaign",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="article_links",
    )
    # The staff member whose WeCom task carries a campaign's link (WeCom userid).
    sender = models.CharField(_("sender"), max_length=64, blank=True)
    token_hash = models.CharField(max_length=64, editable=False)
    opens = models.PositiveIntegerField(_("opens"), default=0)
    first_opened_at = models.DateTimeField(_("first read at"), null=True, blank=True)
    last_opened_at = models.DateTimeField(_("last read at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        verbose_name = _("article link")
        verbose_name_plural = _("article links")
        constraints = [
            # 192 random bits: unique anyway; the clinic is in the rule for a split by clinic.
            models.UniqueConstraint(fields=["clinic", "token_hash"], name="articlelink_token_once"),
            models.CheckConstraint(
                condition=Q(source="campaign", campaign__isnull=False, patient__isnull=True)
                | Q(source__in=["message", "care_step"], campaign__isnull=True)
                & Q(patient__isnull=False),
                name="articlelink_patient_or_campaign",
            ),
            models.CheckConstraint(
                condition=Q(opens=0, first_opened_at__isnull=True)
                | Q(opens__gt=0, first_opened_at__isnull=False),
                name="articlelink_opened_has_date",
            ),
        ]
        indexes = [
            # The public page: a link by its token, before the clinic is known.
            models.Index(fields=["token_hash"], name="articlelink_token"),
        ]

    def __str__(self):
        return f"{self.article_id}:{self.patient_id or self.campaign_id}"


class MessageTemplate(models.Model):
    """A reusable text with variables ({姓名} {医生} {复诊日期} {诊所})."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="message_templates")
    name = models.CharField(_("name"), max_length=80)
    body = models.TextField(_("text"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="msgtemplate_unique_name")
        ]

    def __str__(self):
        return self.name


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    # Handed to WeCom as one mass-message task per sender, until WeCom reports them sent.
    AWAITING = "awaiting", _("Awaiting staff confirmation")
    SENT = "sent", _("Sent")
    CANCELED = "canceled", _("Canceled")


class Campaign(models.Model):
    """A mass message (群发) to a segment, stored as PatientFilter's query parameters."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(_("name"), max_length=100)
    body = models.TextField(_("text"))
    segment = models.JSONField(_("segment"), default=dict, blank=True)
    # The article the campaign links to: {链接} in the text (appended when missing).
    article = models.ForeignKey(
        Article,
        verbose_name=_("article"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    included_count = models.PositiveIntegerField(_("messaged"), default=0)
    excluded_count = models.PositiveIntegerField(_("excluded"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "canceled"]) | Q(send_at__isnull=False),
                name="campaign_scheduled_has_send_at",
            ),
        ]
        indexes = [
            # The beat scan: campaigns_due() — scheduled and due, or interrupted while sending.
            models.Index(
                fields=["send_at"],
                name="campaign_due",
                condition=Q(status__in=["scheduled", "sending"]),
            ),
        ]

    def __str__(self):
        return self.name


# Why a patient is not messaged: the audience rule's reasons (wechat.audience).
ExclusionReason = Exclusion


class CampaignRecipient(models.Model):
    """One patient of a campaign's segment: messaged (with its delivery) or excluded and why."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="campaign_rows"
    )
    included = models.BooleanField(_("messaged"))
    reason = models.CharField(
        _("reason"), max_length=20, choices=ExclusionReason.choices, blank=True
    )
    # The staff member whose mass-message task carries this patient (WeCom userid).
    sender = models.CharField(_("sender"), max_length=64, blank=True)
    # The sender's task (one delivery for up to 10,000 patients), once it is in the outbox.
    delivery = models.ForeignKey(
        "wechat.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("campaign recipient")
        verbose_name_plural = _("campaign recipients")
        constraints = [
            # Never one patient twice in one campaign.
            models.UniqueConstraint(
                fields=["clinic", "campaign", "patient"], name="campaignrecipient_once"
            ),
            models.CheckConstraint(
                condition=Q(included=True, reason="") | Q(included=False) & ~Q(reason=""),
                name="campaignrecipient_excluded_has_reason",
            ),
        ]

    def __str__(self):
        return f"{self.campaign_id}:{self.patient_id}"


class SurveyScale(models.IntegerChoices):
    FIVE = 5, _("1 to 5")
    TEN = 10, _("0 to 10")


class Survey(models.Model):
    """A satisfaction survey (满意度调查): ordered questions (SurveyQuestion).

    The score rule (content.surveys.survey_score): the survey's score is the mean of the
    answered score questions that count towards it, on the survey's scale (score questions
    are answered on that scale: 1–5 or 0–10), rounded to one decimal. Choice and text
    questions never count. An answer without a counted score question has no score."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="surveys")
    title = models.CharField(_("title"), max_length=100)
    scale = models.PositiveSmallIntegerField(
        _("scale"), choices=SurveyScale.choices, default=SurveyScale.FIVE
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(scale__in=[5, 10]), name="survey_scale_valid")
        ]

    def __str__(self):
        return self.title

    @property
    def question(self) -> str:
        """The first question's text (the invitation's message quotes it)."""
        first = self.questions.order_by("position").first()
        return first.text if first else ""


class QuestionKind(models.TextChoices):
    SINGLE = "single", _("Single choice")
    MULTIPLE = "multiple", _("Multiple choice")
    SCORE = "score", _("Score")
    TEXT = "text", _("Free text")


CHOICE_KINDS = (QuestionKind.SINGLE, QuestionKind.MULTIPLE)


class SurveyQuestion(models.Model):
    """One question of a survey, at its position (1, 2, …). `choices` (choice kinds only) is
    [{"id": "c1", "label": "…"}]: an id stays with its label when the survey is edited, so the
    answers keep their meaning. `counts` (score kind only): the survey's score counts it."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(pgettext_lazy("survey question", "position"))
    kind = models.CharField(
        pgettext_lazy("survey question", "kind"), max_length=20, choices=QuestionKind.choices
    )
    text = models.CharField(_("question"), max_length=200)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=True)
    counts = models.BooleanField(_("counts towards the score"), default=False)

    class Meta:
        verbose_name = _("survey question")
        verbose_name_plural = _("survey questions")
        ordering = ["survey", "position"]
        constraints = [
            # Deferred: a reorder swaps positions inside one transaction.
            models.UniqueConstraint(
                fields=["clinic", "survey", "position"],
                name="surveyquestion_position_unique",
                deferrable=models.Deferrable.DEFERRED,
            ),
            models.CheckConstraint(
                condition=Q(kind__in=QuestionKind.values), name="surveyquestion_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(counts=False) | Q(kind="score"),
                name="surveyquestion_only_scores_count",
            ),
        ]

    def __str__(self):
        return f"{self.survey_id}#{self.position} {self.text}"

    def choice_label(self, choice_id: str) -> str:
        for choice in self.choices or ():
            if choice.get("id") == choice_id:
                return choice.get("label", "")
        return ""


class SurveyInvitation(models.Model):
    """One patient's link to a survey. The link carries a random token; only its SHA-256 is
    stored, so a leaked table does not leak working links."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="survey_invitations"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    delivery = models.ForeignKey(
        "wechat.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    # What the survey asks about, when it asks about one visit or appointment (same clinic).
    visit = models.ForeignKey(
        "patients.Visit",
        verbose_name=_("visit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    appointment = models.ForeignKey(
        "followups.Appointment",
        verbose_name=_("appointment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    # The survey's score by its rule (Survey's docstring); empty for an answer without one.
    score = models.DecimalField(_("score"), max_digits=3, decimal_places=1, null=True, blank=True)

    class Meta:
        verbose_name = _("survey invitation")
        verbose_name_plural = _("survey invitations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True, score__isnull=True)
                | Q(answered_at__isnull=False, score__isnull=True)
                | Q(answered_at__isnull=False, score__gte=0, score__lte=10),
                name="surveyinvitation_answer_complete",
            ),
        ]
        indexes = [
            # Survey results: a survey's answers, newest first.
            models.Index(fields=["survey", "-answered_at"], name="invitation_survey_answered"),
        ]

    def __str__(self):
        return f"{self.survey_id}:{self.patient_id}"


class SurveyAnswer(models.Model):
    """One question's answer in one answered invitation: the chosen choice ids (choice kinds),
    the score (score kind) or the text (text kind). A skipped optional question has no row."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    invitation = models.ForeignKey(
        SurveyInvitation, on_delete=models.CASCADE, related_name="answers"
    )
    # Protected: a question with answers is not removed (content.surveys.survey_save says so).
    question = models.ForeignKey(SurveyQuestion, on_delete=models.PROTECT, related_name="answers")
    choice_ids = models.JSONField(_("choices"), default=list, blank=True)
    score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)
    text = models.TextField(_("text"), blank=True)

    class Meta:
        verbose_name = _("survey answer")
        verbose_name_plural = _("survey answers")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "invitation", "question"], name="surveyanswer_once"
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__lte=10), name="surveyanswer_score_range"
            ),
        ]

    def __str__(self):
        return f"{self.invitation_id}:{self.question_id}"
