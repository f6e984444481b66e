from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Clinic(models.Model):
    """The tenant: a clinic, or a hospital department. Every patient row belongs to one."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # Admins always sign in with a second factor; doctors too when the clinic says so.
    doctors_need_second_factor = models.BooleanField(
        _("doctors sign in with a second factor"), default=False
    )

    class Meta:
        verbose_name = _("clinic")
        verbose_name_plural = _("clinics")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    DOCTOR = "doctor", _("Doctor")
    ASSISTANT = "assistant", _("Assistant")
    NURSE = "nurse", _("Nurse")
    OPERATIONS = "operations", _("Operations")


class Membership(models.Model):
    """A staff member: which clinic a user works for, and in which role."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    display_name = models.CharField(_("display name"), max_length=50, blank=True)
    wecom_userid = models.CharField(_("WeCom userid"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff members")
        constraints = [
            # One clinic per login keeps "which clinic am I looking at" unambiguous.
            models.UniqueConstraint(fields=["user"], name="membership_one_clinic_per_user"),
            models.UniqueConstraint(
                fields=["clinic", "wecom_userid"],
                condition=~models.Q(wecom_userid=""),
                name="membership_unique_wecom_userid",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_role_display()})"

    @property
    def name(self):
        return self.display_name or self.user.get_full_name() or self.user.get_username()

    @property
    def can_reveal_phone(self):
        return self.role in (Role.ADMIN, Role.DOCTOR)

    @property
    def can_manage_clinic(self):
        return self.role == Role.ADMIN


class AuditAction(models.TextChoices):
    REVEAL_PHONE = "reveal_phone", _("Revealed a phone number")
    EXPORT = "export", _("Exported patients")
    IMPORT = "import", _("Imported patients")
    SIGN_IN = "sign_in", _("Signed in")
    SIGN_OUT = "sign_out", _("Signed out")
    SIGN_IN_FAILED = "sign_in_failed", _("Failed sign-in")
    LOCKOUT = "lockout", _("Locked out after failed sign-ins")
    UNLOCK = "unlock", _("Unlocked a sign-in")
    SECOND_FACTOR = "second_factor", _("Changed the second factor")


class AuditEvent(models.Model):
    """Who read or exported personal data, and when. Written by services, never edited."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="audit_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    action = models.CharField(_("action"), max_length=30, choices=AuditAction.choices)
    object_type = models.CharField(_("object type"), max_length=50, blank=True)
    object_id = models.CharField(_("object id"), max_length=50, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["clinic", "-created_at"], name="audit_clinic_time")]

    def __str__(self):
        return f"{self.get_action_display()} {self.object_type}:{self.object_id}"
