"""The commit of a checked import: all rows or none, run by a Celery worker.

A hospital's file can hold 50,000 rows; writing them takes longer than a web request may
(gunicorn's timeout is 30 s), so the page only asks for the commit (`import_commit_request`)
and a worker does it (`import_commit_run`), while the page shows the import as running.
"""

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from crm.audit import audit_record
from crm.models import AuditAction
from patients import services
from patients.bulk import patient_create_many
from patients.fields.services import field_values_set, values_of
from patients.imports.models import ImportBatch
from patients.imports.services import LOOKUP_BATCH, _checked_rows, _row_message
from patients.models import Patient
from patients.phones import mask_phone

log = logging.getLogger(__name__)
COMMITTABLE = (ImportBatch.Status.CHECKED, ImportBatch.Status.IMPORTING)


def import_commit_request(*, batch: ImportBatch, actor=None, ip_address=None) -> ImportBatch:
    """Mark a clean dry run as importing and hand it to a worker once this commits."""
    from patients.tasks import import_commit_task

    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.status != ImportBatch.Status.CHECKED or batch.summary.get("error"):
            raise ValidationError(_("Only a dry run without errors can be imported."))
        batch.status = ImportBatch.Status.IMPORTING
        batch.committed_by = actor
        batch.summary = {
            **batch.summary,
            "commit_errors": [],
            "commit_ip": ip_address,
            "commit_requested_at": timezone.now().isoformat(),
            "commit_requeues": 0,
        }
        batch.save(update_fields=["status", "committed_by", "summary"])
        transaction.on_commit(lambda: import_commit_task.delay(batch.pk))
    return batch


def import_commit_run(batch_id: int) -> str:
    """The worker's side: commit an importing batch once; anything else is left alone, so a
    redelivered task does nothing. A failure puts the batch back to its dry run, with why."""
    batch = ImportBatch.objects.filter(pk=batch_id).select_related("committed_by").first()
    if batch is None or batch.status != ImportBatch.Status.IMPORTING:
        return "nothing to do"
    try:
        import_commit(
            batch=batch, actor=batch.committed_by, ip_address=batch.summary.get("commit_ip")
        )
    except ValidationError as exc:
        _back_to_dry_run(batch_id, exc.messages)
        return "refused"
    except Exception:
        log.exception("import %s failed", batch_id)
        _back_to_dry_run(batch_id, [_("The import failed and nothing was written. Try again.")])
        raise
    return "committed"


# A commit runs at most the task's time limit (patients.tasks.LONG_TIME_LIMIT, 15 minutes);
# a batch still "importing" well after that lost its broker message or its worker.
STALE_AFTER = timedelta(minutes=20)
MAX_REQUEUES = 3


def imports_recover_stale(*, now=None) -> dict:
    """Hand a stale importing batch to a worker again, or after MAX_REQUEUES tries put it back
    to its dry run, saying so: the page would otherwise say "importing" for ever. A batch whose
    row a worker has locked is being committed right now and is left alone."""
    from patients.tasks import import_commit_task

    now = now or timezone.now()
    report = {"requeued": 0, "given_up": 0}
    for batch_id, summary, created_at in ImportBatch.objects.filter(
        status=ImportBatch.Status.IMPORTING
    ).values_list("pk", "summary", "created_at"):
        requested = parse_datetime(summary.get("commit_requested_at") or "") or created_at
        if now - requested < STALE_AFTER:
            continue
        with transaction.atomic():
            batch = (
                ImportBatch.objects.select_for_update(skip_locked=True)
                .filter(pk=batch_id, status=ImportBatch.Status.IMPORTING)
                .first()
            )
            if batch is None:
                continue
            tries = batch.summary.get("commit_requeues", 0)
            if tries >= MAX_REQUEUES:
                batch.status = ImportBatch.Status.CHECKED
                message = _("The import did not finish and nothing was written. Try again.")
                batch.summary = {**batch.summary, "commit_errors": [message]}
                report["given_up"] += 1
            else:
                batch.summary = {
                    **batch.summary,
                    "commit_requested_at": now.isoformat(),
                    "commit_requeues": tries + 1,
                }
                transaction.on_commit(lambda pk=batch.pk: import_commit_task.delay(pk))
                report["requeued"] += 1
            batch.save(update_fields=["status", "summary"])
            log.warning(
                "stale import %s: %s", batch.pk, "given up" if tries >= MAX_REQUEUES else "requeued"
            )
    return report


def _back_to_dry_run(batch_id: int, errors: list[str]) -> None:
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == ImportBatch.Status.IMPORTING:
            batch.status = ImportBatch.Status.CHECKED
            batch.summary = {**batch.summary, "commit_errors": [str(e) for e in errors[:50]]}
            batch.save(update_fields=["status", "summary"])


@transaction.atomic
def import_commit(*, batch: ImportBatch, actor=None, ip_address=None) -> ImportBatch:
    """Write the checked file: every row or none. Rows are checked again inside the
    transaction, so a change since the dry run (a new duplicate) cannot slip through."""
    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status not in COMMITTABLE or batch.summary.get("error"):
        raise ValidationError(_("Only a dry run without errors can be imported."))
    counts = {"create": 0, "merge": 0, "skip": 0}
    results, new_rows, errors = [], [], []
    merge = batch.on_duplicate == ImportBatch.OnDuplicate.MERGE
    at = timezone.now()

    def flush_new():
        patient_create_many(clinic=batch.clinic, rows=new_rows, actor=actor, at=at)
        new_rows.clear()

    for number, clean, row_errors, existing in _checked_rows(batch, set()):
        masked = mask_phone(clean["phone"]) if clean.get("phone") else ""
        if row_errors:
            errors.append(_row_message(number, row_errors))
            continue
        if existing is None:
            new_rows.append(clean)
            counts["create"] += 1
            results.append([number, "create", clean["name"], masked, ""])
            if len(new_rows) >= LOOKUP_BATCH:
                flush_new()
            continue
        if merge:
            _merge(existing, clean, actor)
        counts["merge" if merge else "skip"] += 1
        results.append(
            [number, "merge" if merge else "skip", clean["name"], masked, f"#{existing.pk}"]
        )
    if errors:
        # Rolls back every row written so far: all or nothing.
        raise ValidationError(errors[:50])
    flush_new()
    batch.status = ImportBatch.Status.COMMITTED
    batch.committed_at = timezone.now()
    batch.results = results
    batch.summary = {**batch.summary, **counts, "committed": counts, "commit_errors": []}
    batch.committed_by = actor
    batch.save(update_fields=["status", "committed_at", "committed_by", "results", "summary"])
    audit_record(
        clinic_id=batch.clinic_id,
        user=actor,
        action=AuditAction.IMPORT,
        object_type="import",
        object_id=str(batch.pk),
        detail={"file": batch.file_name, **counts},
        ip_address=ip_address,
    )
    return batch


def _merge(patient: Patient, clean: dict, actor) -> None:
    """Fill what the file knows and the record lacks; add the file's tags. Nothing is erased."""
    changes = {
        field: clean[field]
        for field in ("gender", "birth_date", "source_detail", "notes")
        if clean.get(field) and not getattr(patient, field)
    }
    if changes:
        services.patient_update(patient=patient, actor=actor, **changes)
    if clean["tags"]:
        services.patient_tag(patient=patient, add=clean["tags"], actor=actor)
    custom = clean.get("custom_fields") or {}
    if custom:
        have = values_of([patient.pk], list(custom)).get(patient.pk, {})
        missing = {f: v for f, v in custom.items() if v is not None and f.pk not in have}
        if missing:
            field_values_set(patient=patient, values=missing, actor=actor)
