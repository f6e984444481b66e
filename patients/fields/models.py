"""Clinic-defined patient fields (手术日期, 过敏史 …): the definitions an admin manages and one
typed row per patient and field.

Why rows and not a JSONB column on Patient: the list filters on these values by range (手术日期
in December, 分数 ≥ 7), and a B-tree index on (field, value_date) answers a range where a GIN
index on a JSONB document answers only containment (@>); one row per value also makes "this
patient's 手术日期 changed" a row update the care plans anchored on it can follow, and a
field deleted is its rows deleted. Multiple-choice values are a JSON list, GIN-indexed on
PostgreSQL (migration), so "carries 青霉素" is a containment there too.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Clinic


class FieldKind(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Single choice")
    CHOICES = "choices", _("Multiple choice")


CHOICE_KINDS = (FieldKind.CHOICE, FieldKind.CHOICES)


class PatientField(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="patient_fields")
    name = models.CharField(_("name"), max_length=30)
    kind = models.CharField(_("kind"), max_length=10, choices=FieldKind.choices)
    # The options of a choice field, in order: ["青霉素", "头孢"].
    options = models.JSONField(_("options"), default=list, blank=True)
    is_required = models.BooleanField(_("required"), default=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    help_text = models.CharField(_("help text"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("patient field")
        verbose_name_plural = _("patient fields")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "name"], name="patientfield_unique_name_per_clinic"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=FieldKind.values), name="patientfield_kind_valid"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def param(self) -> str:
        """The field's name in forms and import mappings."""
        return f"field_{self.pk}"


class PatientFieldValue(models.Model):
    """One patient's value of one field, in the column of its kind (the others empty).
    No row: no value."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="field_values"
    )
    field = models.ForeignKey(PatientField, on_delete=models.CASCADE, related_name="values")
    value_text = models.CharField(_("text"), max_length=500, blank=True)
    value_number = models.DecimalField(
        _("number"), max_digits=14, decimal_places=4, null=True, blank=True
    )
    value_date = models.DateField(_("date"), null=True, blank=True)
    value_choices = models.JSONField(_("options chosen"), default=list, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("patient field value")
        verbose_name_plural = _("patient field values")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "patient", "field"], name="patientfieldvalue_unique"
            ),
        ]
        indexes = [
            # The list's filters: patients whose value of a field is (in) … — by kind.
            models.Index(
                fields=["field", "value_date"], include=["patient"], name="fieldvalue_date"
            ),
            models.Index(
                fields=["field", "value_number"], include=["patient"], name="fieldvalue_number"
            ),
            models.Index(
                fields=["field", "value_text"], include=["patient"], name="fieldvalue_text"
            ),
            # value_choices: GIN (jsonb_path_ops), PostgreSQL only, in the migration.
        ]

    def __str__(self):
        return f"{self.patient_id} · {self.field_id}"
