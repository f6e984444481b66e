"""The import's own table: an uploaded file on its way in (patients/imports/services.py)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Clinic


class ImportBatch(models.Model):
    """An uploaded patient file on its way in: mapped, dry-run, then committed or dropped.
    The file is kept in the database so every web process and worker can read it."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        CHECKED = "checked", _("Checked")
        IMPORTING = "importing", _("Importing")
        COMMITTED = "committed", _("Imported")

    class OnDuplicate(models.TextChoices):
        SKIP = "skip", _("Skip the row, keep the existing patient")
        MERGE = "merge", _("Merge into the existing patient")

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(_("file"), max_length=200)
    content = models.BinaryField()
    header_row = models.PositiveIntegerField(default=1)
    header = models.JSONField(default=list)
    # The first data rows, read once at upload so the mapping page need not reopen the file.
    preview = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    on_duplicate = models.CharField(
        _("duplicates"), max_length=10, choices=OnDuplicate.choices, default=OnDuplicate.SKIP
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UPLOADED)
    summary = models.JSONField(default=dict)
    # One [row, outcome, name, masked phone, message] per data row: the downloadable report.
    results = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    committed_at = models.DateTimeField(null=True, blank=True)
    # Who asked for the commit; the worker writes the patients in their name.
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("patient import")
        verbose_name_plural = _("patient imports")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="committed", committed_at__isnull=False)
                | (~models.Q(status="committed") & models.Q(committed_at__isnull=True)),
                name="importbatch_committed_at_iff_committed",
            )
        ]

    def __str__(self):
        return self.file_name
