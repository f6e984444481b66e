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
    # A sign-in through WeCom (OAuth in the sidebar, QR web login) counts as the second
    # factor: WeCom verified the member's device. Off by default.
    wecom_signin_trusted = models.BooleanField(_("WeCom sign-in is trusted"), default=False)

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


# Who may be a patient's doctor, or their assistant (nurses do the assistant's work in their
# wards): the pickers of pages, API and admin list these roles only.
DOCTOR_ROLES = (Role.DOCTOR,)
ASSISTANT_ROLES = (Role.ASSISTANT, Role.NURSE)


def _capability(name: str) -> property:
    def check(membership) -> bool:
        return membership.can(name)

    check.__name__ = f"can_{name}"
    check.__doc__ = f"Whether the member's role has the capability {name!r} (crm.capabilities)."
    return property(check)


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

    def can(self, capability: str) -> bool:
        """Whether this member's role has `capability` (crm.capabilities: the one table)."""
        from crm.capabilities import role_can

        return role_can(self.role, capability)

    # One property per capability, for templates (`membership.can_send_messages`) and readers;
    # tests/test_capabilities.py checks that they and crm.capabilities.CAPABILITIES agree.
    can_reveal_phone = _capability("reveal_phone")
    # Dial a patient from a follow-up task: the full number for that one call (the task is the
    # reason, audited). Which patients (a nurse's wards) the task's scope says.
    can_call = _capability("call")
    can_see_clinical = _capability("see_clinical")  # README: role × data
    can_see_clinic_figures = _capability("see_clinic_figures")
    can_manage_clinic = _capability("manage_clinic")
    can_edit_patients = _capability("edit_patients")
    can_place_patients = _capability("place_patients")
    can_import_patients = _capability("import_patients")
    can_send_messages = _capability("send_messages")
    can_edit_content = _capability("edit_content")
    can_publish_articles = _capability("publish_articles")
    can_start_plans = _capability("start_plans")
    can_change_appointments = _capability("change_appointments")
    can_edit_channel_codes = _capability("edit_channel_codes")
    can_see_doctor_ip = _capability("see_doctor_ip")
    can_manage_doctor_ip = _capability("manage_doctor_ip")
    can_manage_patient_fields = _capability("manage_patient_fields")
    can_edit_patient_fields = _capability("edit_patient_fields")


class AuditAction(models.TextChoices):
    REVEAL_PHONE = "reveal_phone", _("Revealed a phone number")
    EXPORT = "export", _("Exported patients")
    IMPORT = "import", _("Imported patients")
    STAFF_CHANGE = "staff_change", _("Changed a staff member")
    PHONE_CHANGE = "phone_change", _("Changed a phone number")
    MERGE = "merge", _("Merged two patient records")
    CALL_REVEAL = "call_reveal", _("Revealed a phone number for a call")
    TICK_UNDO = "tick_undo", _("Undid a checklist tick")
    VIEW_PATIENT = "view_patient", _("Opened a patient record")
    REVEAL_REFUSED = "reveal_refused", _("Refused a phone reveal")
    PHONE_SEARCH = "phone_search", _("Searched by a full phone number")
    LICENCE_DOWNLOAD = "licence_download", _("Downloaded a licence photo")
    API_TOKEN = "api_token", _("Changed an API token")
    AUDIT_EXPORT = "audit_export", _("Exported the audit log")
    SUBJECT_EXPORT = "subject_export", _("Exported a patient's data for them")
    ERASE_PATIENT = "erase_patient", _("Erased a patient's identity")
    ERASE_REFUSED = "erase_refused", _("Refused to erase a patient")
    SIGN_IN = "sign_in", _("Signed in")
    SIGN_OUT = "sign_out", _("Signed out")
    SIGN_IN_FAILED = "sign_in_failed", _("Failed sign-in")
    LOCKOUT = "lockout", _("Locked out after failed sign-ins")
    UNLOCK = "unlock", _("Unlocked a sign-in")
    SECOND_FACTOR = "second_factor", _("Changed the second factor")
    WECOM_SIGN_IN = "wecom_sign_in", _("Signed in with WeCom")
    WECOM_SIGN_IN_REFUSED = "wecom_sign_in_refused", _("Refused a WeCom sign-in")


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
        # Append-only in the database too (PostgreSQL trigger, crm migration
        # 0003_append_only): only the archive (crm.audit.audit_archive) deletes rows.

    def __str__(self):
        return f"{self.get_action_display()} {self.object_type}:{self.object_id}"


class SubmissionToken(models.Model):
    """A create form's one-time token (crm.idempotency.submit_once): a second submission of
    the same form (a double click, a resend) finds the record the first one made."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=50)
    token = models.CharField(max_length=64)
    object_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "kind", "token"], name="submissiontoken_unique"
            )
        ]

    def __str__(self):
        return f"{self.kind}:{self.object_id}"
