from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from taggit.managers import TaggableManager
from taggit.models import TagBase, TaggedItemBase

from crm import crypto
from crm.models import Clinic, Membership
from patients.choices import (
    CaregiverRelation,
    Gender,
    Source,
    Stage,
    TouchChannel,
    TouchKind,
)
from patients.querysets import PatientQuerySet


class Ward(models.Model):
    """A ward (病区): nurses see only the patients of the wards they are assigned to."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="wards")
    name = models.CharField(_("name"), max_length=50)
    nurses = models.ManyToManyField(
        Membership, verbose_name=_("nurses"), blank=True, related_name="wards"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("ward")
        verbose_name_plural = _("wards")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="ward_unique_name_per_clinic")
        ]

    def __str__(self):
        return self.name


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="patients")
    name = models.CharField(_("name"), max_length=50)
    name_initials = models.CharField(
        _("pinyin initials"), max_length=50, blank=True, editable=False
    )
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    # The phone number is stored encrypted; hash and last four digits serve lookups,
    # the mask serves lists, so neither needs to decrypt the table.
    phone_encrypted = models.TextField(_("phone (encrypted)"), blank=True, editable=False)
    phone_hash = models.CharField(max_length=64, blank=True, editable=False)
    phone_last4 = models.CharField(max_length=4, blank=True, editable=False)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True, editable=False)
    external_userid = models.CharField(_("WeCom external userid"), max_length=64, blank=True)
    # The hospital system's (HIS) own patient id, for matching its visits (patients/his.py).
    his_patient_id = models.CharField(_("HIS patient id"), max_length=64, blank=True)
    source = models.CharField(
        _("source"), max_length=20, choices=Source.choices, default=Source.WALK_IN
    )
    source_detail = models.CharField(_("source detail"), max_length=100, blank=True)
    referred_by = models.ForeignKey(
        "self",
        verbose_name=_("referred by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="referrals",
    )
    assigned_doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("doctor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="doctor_patients",
    )
    assigned_assistant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assistant"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assistant_patients",
    )
    # At most one ward; a nurse's patient list is the patients of her wards (selectors).
    ward = models.ForeignKey(
        Ward,
        verbose_name=_("ward"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patients",
    )
    bed_number = models.CharField(_("bed number"), max_length=20, blank=True)
    stage = models.CharField(
        _("journey stage"), max_length=20, choices=Stage.choices, default=Stage.LEAD
    )
    stage_changed_at = models.DateTimeField(_("stage changed at"), default=timezone.now)
    # Consent per purpose (PIPL art. 29), each with when and how it was last given or
    # withdrawn. consent_to_contact is the consent to care messages (reminders, care-plan
    # steps, surveys, single messages); marketing (campaigns) needs its own consent as well.
    consent_to_contact = models.BooleanField(_("consents to care messages"), default=True)
    consent_care_changed_at = models.DateTimeField(
        _("care consent given or withdrawn at"), null=True, blank=True
    )
    consent_care_how = models.CharField(
        _("how care consent was given or withdrawn"), max_length=100, blank=True, db_default=""
    )
    # Database defaults too: the bulk loaders (COPY, multi-row INSERTs) name their columns.
    consent_marketing = models.BooleanField(
        _("consents to marketing messages"), default=True, db_default=True
    )
    consent_marketing_changed_at = models.DateTimeField(
        _("marketing consent given or withdrawn at"), null=True, blank=True
    )
    consent_marketing_how = models.CharField(
        _("how marketing consent was given or withdrawn"), max_length=100, blank=True, db_default=""
    )
    last_visit_date = models.DateField(_("last visit"), null=True, blank=True, editable=False)
    notes = models.TextField(_("notes"), blank=True)
    # A duplicate merged into another record (patients/merge.py): closed, kept for the audit
    # trail, invisible to every list and page (selectors.patients_visible_to).
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="merged_records",
    )
    merged_at = models.DateTimeField(_("merged at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    tags = TaggableManager(through="TaggedPatient", blank=True, verbose_name=_("tags"))
    # A copy of the patient's tag ids, kept by services.patient_tag and bulk.patient_create_many,
    # for the list's tag filter (PatientQuerySet.tagged_any, GIN-indexed on PostgreSQL).
    # TaggedPatient stays the record; ids of deleted tags may linger here and are never asked
    # for (the filter only asks for existing tags).
    tag_ids = models.JSONField(_("tag ids"), default=list, blank=True, editable=False)
    objects = PatientQuerySet.as_manager()
    # Re-encrypted and re-hashed by `rotate_field_keys` (crm.keys).
    encrypted_fields = {"phone_encrypted": "phone_hash"}

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "phone_hash"],
                condition=~models.Q(phone_hash=""),
                name="patient_unique_phone_per_clinic",
            ),
            models.UniqueConstraint(
                fields=["clinic", "external_userid"],
                condition=~models.Q(external_userid=""),
                name="patient_unique_external_userid_per_clinic",
            ),
            models.UniqueConstraint(
                fields=["clinic", "his_patient_id"],
                condition=~models.Q(his_patient_id=""),
                name="patient_unique_his_patient_id_per_clinic",
            ),
            models.CheckConstraint(
                condition=models.Q(stage__in=Stage.values), name="patient_stage_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(merged_into__isnull=True, merged_at__isnull=True)
                | (
                    models.Q(merged_into__isnull=False, merged_at__isnull=False)
                    & ~models.Q(merged_into=models.F("pk"))
                ),
                name="patient_merged_into_other",
            ),
        ]
        indexes = [
            # The assistant's search by phone tail.
            models.Index(fields=["clinic", "phone_last4"], name="patient_clinic_last4"),
            models.Index(fields=["clinic", "stage"], name="patient_clinic_stage"),
            models.Index(fields=["clinic", "-created_at"], name="patient_clinic_created"),
            # A doctor's patients at a stage, newest first: the list's everyday filters, read
            # in page order so a page stops early; with the tag ids included (PostgreSQL) the
            # list's count with a tag filter too is an index-only scan, and with the id a
            # doctor's patients join their follow-up tasks without reading the table. Name/initials search
            # indexes are PostgreSQL-only (trigram, pattern ops): migration 0005, outside the
            # model state.
            models.Index(
                fields=["clinic", "assigned_doctor", "stage", "-created_at"],
                include=["tag_ids", "id"],
                name="patient_doctor_stage_created",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def phone(self):
        """The full number; decrypting it is a reveal, so callers log it (services)."""
        return crypto.decrypt(self.phone_encrypted)


class Caregiver(models.Model):
    """A contact of a patient (家属) who receives the reminders the patient chose for them
    (`reminders`, CaregiverReminder values: the consent per purpose). The phone is stored
    as the patient's is (encrypted, hash, last four, mask)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="caregivers")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="caregivers")
    name = models.CharField(_("name"), max_length=50)
    relation = models.CharField(_("relation"), max_length=20, choices=CaregiverRelation.choices)
    phone_encrypted = models.TextField(_("phone (encrypted)"), blank=True, editable=False)
    phone_hash = models.CharField(max_length=64, blank=True, editable=False)
    phone_last4 = models.CharField(max_length=4, blank=True, editable=False)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True, editable=False)
    external_userid = models.CharField(_("WeCom external userid"), max_length=64, blank=True)
    reminders = models.JSONField(_("reminders consented to"), default=list, blank=True)
    consent_changed_at = models.DateTimeField(_("consent changed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    encrypted_fields = {"phone_encrypted": "phone_hash"}

    class Meta:
        verbose_name = _("caregiver")
        verbose_name_plural = _("caregivers")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(relation__in=CaregiverRelation.values),
                name="caregiver_relation_valid",
            ),
            models.UniqueConstraint(
                fields=["clinic", "patient", "phone_hash"],
                condition=~models.Q(phone_hash=""),
                name="caregiver_unique_phone_per_patient",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "patient"], name="caregiver_clinic_patient"),
        ]

    def __str__(self):
        return self.name

    @property
    def phone(self):
        """The full number; decrypting it is a reveal, so callers log it (caregivers)."""
        return crypto.decrypt(self.phone_encrypted)


class TagGroup(models.Model):
    class Kind(models.TextChoices):
        DISEASE = "disease", _("Disease")
        SURGERY = "surgery", _("Surgery")
        SEVERITY = "severity", _("Severity")
        SOURCE = "source", _("Source")
        OTHER = "other", _("Other")

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="tag_groups")
    name = models.CharField(_("name"), max_length=50)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.OTHER)
    is_single_choice = models.BooleanField(
        _("single choice"),
        default=False,
        help_text=_("A patient carries at most one tag of this group (e.g. severity)."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "name"], name="taggroup_unique_name_per_clinic"
            )
        ]

    def __str__(self):
        return self.name


class PatientTag(TagBase):
    """A clinic's tag, in one group. Names are unique per clinic, not globally."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=100, allow_unicode=True)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="tags")
    group = models.ForeignKey(
        TagGroup, verbose_name=_("group"), on_delete=models.PROTECT, related_name="tags"
    )
    wecom_tag_id = models.CharField(_("WeCom tag id"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["group__position", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "name"], name="patienttag_unique_name_per_clinic"
            )
        ]


class TaggedPatient(TaggedItemBase):
    content_object = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="tagged_items"
    )
    tag = models.ForeignKey(PatientTag, on_delete=models.CASCADE, related_name="tagged_patients")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("patient tag")
        verbose_name_plural = _("patient tags")
        constraints = [
            models.UniqueConstraint(fields=["content_object", "tag"], name="taggedpatient_unique")
        ]
        # The tag filter of the patient list starts from the tag.
        indexes = [models.Index(fields=["tag", "content_object"], name="taggedpatient_tag_patient")]


class StageTransition(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(_("from"), max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(_("to"), max_length=20, choices=Stage.choices)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("stage transition")
        verbose_name_plural = _("stage transitions")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["patient", "-at"], name="transition_patient_at"),
            # Retention figures: who entered a stage in a period.
            models.Index(fields=["clinic", "to_stage", "at"], name="transition_clinic_to_at"),
            # The dashboard's churn: an index-only scan of a year's churns (a heap fetch per
            # row cost 0.7 s at a million patients).
            models.Index(
                fields=["clinic", "at"],
                include=["patient"],
                name="transition_churned",
                condition=models.Q(to_stage="churned"),
            ),
        ]

    def __str__(self):
        return f"{self.patient}: {self.from_stage or '-'} → {self.to_stage}"


class Touch(models.Model):
    """One contact or event with a patient (每一次触达均留痕). Immutable once written."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="touches")
    kind = models.CharField(_("kind"), max_length=20, choices=TouchKind.choices)
    channel = models.CharField(
        _("channel"), max_length=20, choices=TouchChannel.choices, default=TouchChannel.SYSTEM
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    summary = models.CharField(_("summary"), max_length=500)
    payload = models.JSONField(_("details"), default=dict, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # The patient's timeline, newest first, keyset-paginated.
            models.Index(fields=["patient", "-occurred_at", "-id"], name="touch_patient_timeline"),
            # Readers of the event stream (follow-up triggers) scan by id per clinic.
            models.Index(fields=["clinic", "id"], name="touch_clinic_id"),
            models.Index(fields=["clinic", "kind", "occurred_at"], name="touch_clinic_kind_at"),
            # The dashboard's churn: WeCom contacts deleted in a period, index-only.
            models.Index(
                fields=["clinic", "occurred_at"],
                include=["patient"],
                name="touch_churn_signal",
                condition=models.Q(kind="churn_signal"),
            ),
        ]

    def __str__(self):
        return self.summary

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Timeline entries are immutable.")
        super().save(*args, **kwargs)


class Visit(models.Model):
    class Kind(models.TextChoices):
        FIRST = "first", _("First visit")
        REVISIT = "revisit", _("Revisit")
        RE_EXAM = "re_exam", _("Re-exam")

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="visits")
    visit_date = models.DateField(_("visit date"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("doctor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    amount = models.DecimalField(
        _("amount paid"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    notes = models.CharField(_("notes"), max_length=500, blank=True)
    # The hospital system's (HIS) own visit id: a visit posted twice is recorded once.
    his_visit_id = models.CharField(_("HIS visit id"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["-visit_date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="visit_amount_not_negative"
            ),
            models.UniqueConstraint(
                fields=["clinic", "his_visit_id"],
                condition=~models.Q(his_visit_id=""),
                name="visit_unique_his_visit_id_per_clinic",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "visit_date"], name="visit_patient_date"),
            models.Index(fields=["clinic", "visit_date"], name="visit_clinic_date"),
        ]

    def __str__(self):
        return f"{self.patient} {self.visit_date}"


# The import batches and the dashboard's summary tables live in their subpackages' models
# modules; imported here so Django registers them with this app (app label and tables unchanged).
import patients.dashboard.models  # noqa: E402, F401
import patients.fields.models  # noqa: E402, F401
import patients.imports.models  # noqa: E402, F401
