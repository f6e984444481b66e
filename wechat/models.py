from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import crypto
from crm.models import Clinic


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
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

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


class RateBucket(models.Model):
    """Pacing below WeCom's limits: each send reserves the bucket's next free slot."""

    key = models.CharField(max_length=200, primary_key=True)
    next_free_at = models.DateTimeField()

    class Meta:
        verbose_name = _("rate bucket")
        verbose_name_plural = _("rate buckets")

    def __str__(self):
        return self.key
