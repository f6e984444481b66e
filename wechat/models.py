from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import crypto
from crm.models import Clinic
from patients.choices import Stage

# The clinic's first welcome message, editable on the WeCom settings page (seed 003: say what the
# account is for, what to send here, and that it is not for emergencies).
DEFAULT_WELCOME_TEXT = (
    "您好，欢迎添加我们！这里是本院的患者服务账号：复查报告、检查单可以直接拍照发到这里，"
    "复诊预约和非紧急的问题也可以在这里咨询，我们会在工作时间尽快回复。"
    "本账号不处理急症：如遇紧急情况，请立即前往医院急诊或拨打 120。"
)


class WeComAccount(models.Model):
    """A clinic's WeCom corp settings. Secrets are encrypted at rest and never shown again."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="wecom_account")
    corp_id = models.CharField(_("corp id"), max_length=64)
    agent_id = models.CharField(_("agent id"), max_length=32)
    # The secret of the self-built app that has the customer-contact (客户联系) permission.
    secret_encrypted = models.TextField(editable=False)
    callback_token_encrypted = models.TextField(editable=False, blank=True)
    encoding_aes_key_encrypted = models.TextField(editable=False, blank=True)
    # The team group's robot webhook key, for the morning digest.
    robot_key_encrypted = models.TextField(editable=False, blank=True)
    # Sent to a new contact who came without a channel code's own welcome message.
    welcome_text = models.TextField(_("default welcome message"), default=DEFAULT_WELCOME_TEXT)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    # Re-encrypted by `rotate_field_keys` (crm.keys).
    encrypted_fields = dict.fromkeys(
        [
            "secret_encrypted",
            "callback_token_encrypted",
            "encoding_aes_key_encrypted",
            "robot_key_encrypted",
        ]
    )

    class Meta:
        verbose_name = _("WeCom account")
        verbose_name_plural = _("WeCom accounts")

    def __str__(self):
        return f"{self.clinic} ({self.corp_id})"

    @property
    def secret(self):
        return crypto.decrypt(self.secret_encrypted)

    @property
    def callback_token(self):
        return crypto.decrypt(self.callback_token_encrypted)

    @property
    def encoding_aes_key(self):
        return crypto.decrypt(self.encoding_aes_key_encrypted)

    @property
    def robot_key(self):
        return crypto.decrypt(self.robot_key_encrypted)


class DeliveryChannel(models.TextChoices):
    APP_MESSAGE = "app_message", _("App message to staff")
    ROBOT = "robot", _("Group robot")
    CUSTOMER_MESSAGE = "customer_message", _("Customer message (confirmed by staff)")
    WELCOME = "welcome", _("Welcome message")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed, will retry")
    DEAD = "dead", _("Gave up")
    SKIPPED = "skipped", _("Skipped")
    MISSED = "missed", _("Too late")


class DeliveryQuerySet(models.QuerySet):
    def due(self, now=None):
        """Rows a worker may claim now: waiting or failed, and their time has come."""
        now = now or timezone.now()
        return self.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED], next_attempt_at__lte=now
        )

    def stale_sending(self, older_than):
        """Claimed by a worker that died before recording the outcome."""
        return self.filter(status=DeliveryStatus.SENDING, claimed_at__lt=older_than)


class Delivery(models.Model):
    """The outbox: every message that leaves CareLoop is one row here.

    The idempotency key names the cause (``followup:{task_id}:reminder``,
    ``welcome:{welcome_code}``, ``campaign:{id}:{patient_id}``) so that a second
    enqueue of the same cause is a no-op. Workers claim rows with a conditional
    update; PostgreSQL, not the broker, is the source of truth for what is due.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="deliveries")
    idempotency_key = models.CharField(_("idempotency key"), max_length=200)
    channel = models.CharField(_("channel"), max_length=20, choices=DeliveryChannel.choices)
    # A staff WeCom userid (app message), an external_userid (customer message,
    # welcome), or "team" for the clinic's group robot.
    recipient = models.CharField(_("recipient"), max_length=100)
    # For customer messages: the staff member who confirms the send in WeCom.
    sender = models.CharField(_("sender"), max_length=64, blank=True)
    patient = models.ForeignKey(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    body = models.TextField(_("message"))
    payload = models.JSONField(_("details"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    # Set when pacing reserved a send slot, so the re-claim at that time does not reserve again.
    paced_until = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(_("useless after"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    provider_message_id = models.CharField(_("WeCom message id"), max_length=128, blank=True)
    # A worker died after WeCom may have accepted the call: a resend may duplicate it.
    possible_duplicate = models.BooleanField(_("possible duplicate"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "idempotency_key"], name="delivery_unique_key"
            ),
            models.CheckConstraint(
                condition=models.Q(status="sent", sent_at__isnull=False) | ~models.Q(status="sent"),
                name="delivery_sent_has_sent_at",
            ),
        ]
        indexes = [
            # The scan: DeliveryQuerySet.due() in next_attempt_at order.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=models.Q(status__in=["pending", "failed"]),
            ),
            # The senders take first the rows that waited for a reserved pacing slot and
            # welcome messages (their code expires in 20 s), ahead of any backlog: a
            # small index, as few such rows wait at a time.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_first_due",
                condition=models.Q(status__in=["pending", "failed"])
                & (models.Q(paced_until__isnull=False) | models.Q(channel="welcome")),
            ),
            # The recovery: DeliveryQuerySet.stale_sending().
            models.Index(
                fields=["claimed_at"], name="delivery_sending", condition=models.Q(status="sending")
            ),
            models.Index(fields=["patient", "-created_at"], name="delivery_patient"),
        ]

    def __str__(self):
        return self.idempotency_key


class DeliveryAttempt(models.Model):
    """One try at sending a delivery. Written before the call, completed after it, so a
    try that never completed shows that a worker died in the middle of a call."""

    # The delivery's clinic, so that the table can be split by clinic (docs/scaling.md).
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_rows")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    errcode = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["started_at", "id"]

    def __str__(self):
        return f"{self.delivery_id} @ {self.started_at:%H:%M:%S}"


class RecipientStatus(models.TextChoices):
    """What became of one customer of a customer message (a mass-message task in WeCom)."""

    PENDING = "pending", _("Awaiting staff confirmation")
    DELIVERED = "delivered", _("Delivered")
    NOT_CONTACT = "not_contact", _("Not a contact of the sender")
    DAILY_LIMIT = "daily_limit", _("Already received a mass message today")
    UNCONFIRMED = "unconfirmed", _("Not confirmed by the staff member")
    FAILED = "failed", _("Sending failed")
    # Left out of the task when the outbox sent it: the audience rule said no by then
    # (consent withdrawn, churned, contact deleted, a cap); `reason` says which.
    EXCLUDED = "excluded", _("Excluded when sent")


# WeCom's per-customer status in get_groupmsg_send_result, once the member has sent.
WECOM_SEND_STATUS = {
    1: RecipientStatus.DELIVERED,
    2: RecipientStatus.NOT_CONTACT,
    3: RecipientStatus.DAILY_LIMIT,
    0: RecipientStatus.UNCONFIRMED,
}


class DeliveryRecipient(models.Model):
    """One customer of a customer message. A customer message is one add_msg_template task
    of one sender for one or many customers (a campaign's chunk, a single message, a
    reminder); WeCom reports per customer, and so does this row."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="recipient_rows")
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_userid = models.CharField(_("external userid"), max_length=100)
    status = models.CharField(
        _("result"),
        max_length=20,
        choices=RecipientStatus.choices,
        default=RecipientStatus.PENDING,
    )
    # Why an excluded customer was left out: a wechat.audience.Exclusion code.
    reason = models.CharField(_("reason"), max_length=20, blank=True, default="")
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("delivery recipient")
        verbose_name_plural = _("delivery recipients")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "delivery", "external_userid"], name="deliveryrecipient_once"
            ),
            models.CheckConstraint(
                condition=models.Q(status="excluded") & ~models.Q(reason="")
                | ~models.Q(status="excluded") & models.Q(reason=""),
                name="deliveryrecipient_excluded_has_reason",
            ),
        ]
        indexes = [
            # The results poll: deliveries with customers still waiting for WeCom's answer.
            models.Index(
                fields=["delivery"],
                name="deliveryrecipient_pending",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self):
        return f"{self.delivery_id}:{self.external_userid}"


class RateBucket(models.Model):
    """Pacing below WeCom's limits: each send reserves the bucket's next free slot."""

    key = models.CharField(max_length=200, primary_key=True)
    next_free_at = models.DateTimeField()

    class Meta:
        verbose_name = _("rate bucket")
        verbose_name_plural = _("rate buckets")

    def __str__(self):
        return self.key


class ChannelCodeKind(models.TextChoices):
    """What a code's `state` stands for. The state is the kind's prefix and a base36 id."""

    CHANNEL = "c", _("Channel")
    REFERRAL = "r", _("Referral")
    POST = "p", _("Content post")


class ChannelCode(models.Model):
    """A channel QR code (渠道活码): a WeCom contact way whose `state` tells where a
    patient came from. Scanning it adds one of `staff`; CareLoop then applies the
    code's tags and stage and sends its welcome message."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="channel_codes")
    kind = models.CharField(
        _("kind"), max_length=1, choices=ChannelCodeKind.choices, default=ChannelCodeKind.CHANNEL
    )
    name = models.CharField(_("name"), max_length=60)
    staff = models.ManyToManyField(
        "crm.Membership", verbose_name=_("receiving staff"), related_name="channel_codes"
    )
    tags = models.ManyToManyField(
        "patients.PatientTag", verbose_name=_("tags to apply"), blank=True, related_name="+"
    )
    stage = models.CharField(
        _("journey stage to set"),
        max_length=20,
        choices=Stage.choices,
        blank=True,
        help_text=_("Leave empty to keep the patient's stage."),
    )
    welcome_text = models.TextField(
        _("welcome message"),
        blank=True,
        help_text=_("Leave empty to send the clinic's default welcome message."),
    )
    link_title = models.CharField(_("link card title"), max_length=64, blank=True)
    link_url = models.URLField(_("link card URL"), max_length=500, blank=True)
    link_desc = models.CharField(_("link card description"), max_length=128, blank=True)
    # WeCom's `state` (≤ 30 characters): the kind's prefix, a dash and a base36 id.
    state = models.CharField(_("state"), max_length=30)
    # Referral codes (issue 8): the patient who refers.
    referrer = models.ForeignKey(
        "patients.Patient",
        verbose_name=_("referrer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    config_id = models.CharField(_("WeCom config id"), max_length=64, blank=True)
    qr_code = models.URLField(_("QR code"), max_length=500, blank=True)
    # A customer-acquisition link (获客助手) for platforms that forbid QR codes: its URL carries
    # customer_channel=<state>, which WeCom returns as the arrival's State.
    acquisition_link_id = models.CharField(_("acquisition link id"), max_length=64, blank=True)
    acquisition_url = models.URLField(_("acquisition link"), max_length=500, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("channel code")
        verbose_name_plural = _("channel codes")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "state"], name="channelcode_unique_state"),
            models.CheckConstraint(
                condition=models.Q(stage="") | models.Q(stage__in=Stage.values),
                name="channelcode_stage_valid",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def link(self) -> dict | None:
        if not self.link_url:
            return None
        return {"title": self.link_title or self.name, "url": self.link_url, "desc": self.link_desc}


class ContactArrivalQuerySet(models.QuerySet):
    def current(self):
        return self.filter(still_contact=True)


class ContactArrival(models.Model):
    """A patient became a WeCom contact of a staff member, through a channel code or not.

    The channel-code page counts these per day and how many are still contacts."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="wecom_arrivals"
    )
    channel_code = models.ForeignKey(
        ChannelCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="arrivals"
    )
    staff_userid = models.CharField(_("staff WeCom userid"), max_length=64)
    state = models.CharField(_("state"), max_length=30, blank=True)
    arrived_at = models.DateTimeField(_("arrived at"), default=timezone.now)
    still_contact = models.BooleanField(_("still a contact"), default=True)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)

    objects = ContactArrivalQuerySet.as_manager()

    class Meta:
        verbose_name = _("WeCom arrival")
        verbose_name_plural = _("WeCom arrivals")
        ordering = ["-arrived_at", "-id"]
        constraints = [
            # One row per contact relation; a re-add after a delete revives it.
            models.UniqueConstraint(
                fields=["clinic", "patient", "staff_userid"], name="arrival_unique_relation"
            ),
            models.CheckConstraint(
                condition=models.Q(still_contact=True, left_at__isnull=True)
                | models.Q(still_contact=False),
                name="arrival_left_only_when_gone",
            ),
        ]
        indexes = [
            # The channel-code page: arrivals of a code per day.
            models.Index(fields=["channel_code", "arrived_at"], name="arrival_code_day"),
        ]

    def __str__(self):
        return f"{self.patient_id} → {self.staff_userid}"


class CallbackStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Ignored")
    FAILED = "failed", _("Failed")


class CallbackEvent(models.Model):
    """The inbox: one decrypted WeCom callback, stored before WeCom gets its answer.

    `dedupe_key` is a hash of the decrypted event's fields, so WeCom's retries and
    replays of the same event are one row; a worker processes each row once."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    dedupe_key = models.CharField(max_length=64)
    event = models.CharField(_("event"), max_length=64, blank=True)
    change_type = models.CharField(_("change type"), max_length=64, blank=True)
    xml = models.TextField(_("decrypted XML"))
    status = models.CharField(
        _("status"), max_length=20, choices=CallbackStatus.choices, default=CallbackStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    # When the beat scan may pick it up: a little after receipt (the task enqueued on commit
    # normally has it done by then), later after each failed try.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("WeCom callback")
        verbose_name_plural = _("WeCom callbacks")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "dedupe_key"], name="callback_unique_event"),
            models.CheckConstraint(
                condition=models.Q(status="pending", processed_at__isnull=True)
                | ~models.Q(status="pending"),
                name="callback_pending_not_processed",
            ),
        ]
        indexes = [
            # The scan: CallbackEvent.objects.filter(status="pending", next_attempt_at__lte=now).
            models.Index(
                fields=["next_attempt_at"],
                name="callback_pending",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self):
        return f"{self.event}/{self.change_type} @ {self.received_at:%Y-%m-%d %H:%M:%S}"


# The texts patients get: the clinic's sending rules and red lines (wechat.composer) -----

EMERGENCY_NOTICE = "急症请立即就医或拨打120。"


class ContentSettings(models.Model):
    """A clinic's sending rules. Created (with the default red lines) on first use."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="content_settings")
    emergency_notice_enabled = models.BooleanField(
        _("append the emergency notice"),
        default=True,
        help_text=_("Appended to every message a patient receives."),
    )
    emergency_notice = models.CharField(
        _("emergency notice"), max_length=200, default=EMERGENCY_NOTICE
    )
    # WeCom caps how many mass messages one customer receives; the cap has changed over the
    # years, so it is a setting. 0 means no cap.
    per_customer_daily_cap = models.PositiveSmallIntegerField(
        _("mass messages per patient per day"), default=1
    )
    per_customer_weekly_cap = models.PositiveSmallIntegerField(
        _("mass messages per patient in 7 days"), default=4
    )
    # The clinic's own rule: how many campaigns may go out on one day. 0 means no cap.
    campaigns_per_day_cap = models.PositiveSmallIntegerField(_("campaigns per day"), default=3)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        db_table = "content_contentsettings"  # made by content's first migration
        verbose_name = _("content settings")
        verbose_name_plural = _("content settings")

    def __str__(self):
        return str(self.clinic)


class RedLinePhrase(models.Model):
    """A claim no patient-facing text may make, and why (合规检查)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="red_line_phrases")
    phrase = models.CharField(_("phrase"), max_length=50)
    reason = models.CharField(_("reason"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        db_table = "content_redlinephrase"  # made by content's first migration
        verbose_name = _("red-line phrase")
        verbose_name_plural = _("red-line phrases")
        ordering = ["phrase"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "phrase"], name="redline_unique_phrase"),
            models.CheckConstraint(condition=~models.Q(phrase=""), name="redline_phrase_not_empty"),
        ]

    def __str__(self):
        return self.phrase


class TimelineCursor(models.Model):
    """How far a wechat job has read the timeline (patients' Touch ids): the tag push
    (wechat.tag_push) moves it only after WeCom has the changes it read."""

    key = models.CharField(max_length=50, unique=True)
    last_touch_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.key}: {self.last_touch_id}"


class CorpTagMirror(models.Model):
    """The name a corp tag had in WeCom when CareLoop last saw it (wechat.sync): a name that
    differs on one side only tells which side renamed it, and a mirrored id whose CareLoop
    tag is gone tells that CareLoop deleted it."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    wecom_tag_id = models.CharField(max_length=64)
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "wecom_tag_id"], name="corptagmirror_unique_tag"
            )
        ]

    def __str__(self):
        return f"{self.wecom_tag_id}: {self.name}"


class TransferKind(models.TextChoices):
    ONJOB = "onjob", _("Staff member still employed (在职继承)")
    RESIGNED = "resigned", _("Staff member who left WeCom (离职继承)")


class TransferStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting (the patient has 24 hours to refuse)")
    DONE = "done", _("Transferred")
    REFUSED = "refused", _("Refused by the patient")
    LIMIT = "limit", _("The new staff member has too many customers")
    NO_RECORD = "no_record", _("WeCom has no record of the transfer")
    FAILED = "failed", _("Refused by WeCom")


# transfer_result's status per customer.
WECOM_TRANSFER_STATUS = {
    1: TransferStatus.DONE,
    2: TransferStatus.WAITING,
    3: TransferStatus.REFUSED,
    4: TransferStatus.LIMIT,
    5: TransferStatus.NO_RECORD,
}


class CustomerTransferQuerySet(models.QuerySet):
    def waiting(self):
        return self.filter(status=TransferStatus.WAITING)


class CustomerTransfer(models.Model):
    """One patient's WeCom contact handed from one staff member to another
    (externalcontact/transfer_customer or resigned/transfer_customer). WeCom moves it 24
    hours later unless the patient refuses; the result is polled (wechat.transfers)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=TransferKind.choices)
    # The handover's key (one per admin's handover), so that a retried request skips the
    # patients it already asked WeCom for.
    batch = models.CharField(max_length=64)
    handover_userid = models.CharField(_("from (WeCom userid)"), max_length=64)
    takeover_userid = models.CharField(_("to (WeCom userid)"), max_length=64)
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_userid = models.CharField(_("external userid"), max_length=100)
    status = models.CharField(
        _("status"), max_length=20, choices=TransferStatus.choices, default=TransferStatus.WAITING
    )
    errcode = models.IntegerField(_("WeCom error code"), null=True, blank=True)
    takeover_at = models.DateTimeField(_("transfer time"), null=True, blank=True)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = CustomerTransferQuerySet.as_manager()

    class Meta:
        verbose_name = _("WeCom customer transfer")
        verbose_name_plural = _("WeCom customer transfers")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "batch", "external_userid"], name="customertransfer_once"
            ),
            models.UniqueConstraint(
                fields=["clinic", "external_userid"],
                condition=models.Q(status="waiting"),
                name="customertransfer_one_waiting",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TransferStatus.values),
                name="customertransfer_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["handover_userid"],
                name="customertransfer_waiting",
                condition=models.Q(status="waiting"),
            ),
        ]

    def __str__(self):
        return f"{self.external_userid}: {self.handover_userid} → {self.takeover_userid}"


class GroupChatStatus(models.TextChoices):
    ACTIVE = "active", _("Group active")
    DISMISSED = "dismissed", _("Group dismissed")


class GroupChat(models.Model):
    """A WeCom customer group (客户群) of the clinic, such as a disease group (病种群)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="group_chats")
    chat_id = models.CharField(_("WeCom chat id"), max_length=64)
    name = models.CharField(_("name"), max_length=100, blank=True)
    owner = models.CharField(_("owner WeCom userid"), max_length=64, blank=True)
    disease_tag = models.ForeignKey(
        "patients.PatientTag",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="group_chats",
        verbose_name=_("disease tag"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=GroupChatStatus.choices, default=GroupChatStatus.ACTIVE
    )
    member_count = models.PositiveIntegerField(_("member count"), default=0)
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("customer group")
        verbose_name_plural = _("customer groups")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "chat_id"], name="groupchat_unique_chat"),
        ]
        indexes = [models.Index(fields=["clinic", "status"], name="groupchat_clinic_status")]

    def __str__(self):
        return self.name or self.chat_id


class GroupMemberType(models.IntegerChoices):
    STAFF = 1, _("Staff")
    EXTERNAL = 2, _("External contact")


class GroupMember(models.Model):
    """A member of a customer group now: a staff member or an external contact (a patient
    when CareLoop knows the external_userid)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(GroupChat, on_delete=models.CASCADE, related_name="members")
    userid = models.CharField(_("WeCom userid"), max_length=100)
    member_type = models.PositiveSmallIntegerField(
        _("member type"), choices=GroupMemberType.choices
    )
    patient = models.ForeignKey(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="group_memberships",
    )
    join_scene = models.PositiveSmallIntegerField(_("join scene"), default=0)
    joined_at = models.DateTimeField(_("joined at"), null=True, blank=True)

    class Meta:
        verbose_name = _("group member")
        verbose_name_plural = _("group members")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "group", "userid"], name="groupmember_unique"
            ),
        ]
        indexes = [models.Index(fields=["clinic", "patient"], name="groupmember_patient")]

    def __str__(self):
        return f"{self.group_id}:{self.userid}"


class DirectoryUser(models.Model):
    """A member of the corp's WeCom directory (通讯录) as the last directory sync saw them:
    the source of the staff proposals (no membership yet) and of the left-WeCom flags."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    userid = models.CharField(_("WeCom userid"), max_length=64)
    name = models.CharField(_("name"), max_length=64, blank=True)
    departments = models.CharField(_("departments"), max_length=200, blank=True)
    # WeCom's status: 1 active, 2 disabled, 4 not activated, 5 quit.
    status = models.PositiveSmallIntegerField(_("WeCom status"), default=1)
    seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    gone_at = models.DateTimeField(_("gone from WeCom"), null=True, blank=True)

    class Meta:
        verbose_name = _("WeCom directory member")
        verbose_name_plural = _("WeCom directory members")
        ordering = ["name", "userid"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "userid"], name="directoryuser_unique"),
        ]

    def __str__(self):
        return self.name or self.userid
