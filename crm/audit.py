"""The audit log: one writer for every audit event, the two ways past the append-only trigger,
the archive of events past their retention, and the reads of the admins' audit page.

`AuditEvent` and the patients' `Touch` rows are append-only in the database itself: on
PostgreSQL a trigger (crm migration 0003, patients migration 0010) refuses UPDATE and DELETE,
with two exceptions it checks itself:

- a deleted user's rows lose only the link to the user (ON DELETE SET NULL);
- inside `archiving()` (a transaction-local `careloop.archiving` setting) rows may be deleted:
  only `audit_archive` does so, after writing them to the archive file.

Patient erasure (patients.privacy) has its own transaction-local setting that lets it rewrite
one patient's timeline texts and nothing else. These guard against code that should not change
history, not against someone who can run SQL as the table owner (they could drop the trigger):
keep the database's owner role out of the application's hands in production.
"""

import gzip
import json
import os
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from crm.models import AuditAction, AuditEvent


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def audit_record(
    *,
    clinic_id: int,
    user,
    action: str,
    object_type: str = "",
    object_id="",
    detail: dict | None = None,
    request=None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Write one audit event (who did what to which object, from where)."""
    if action not in AuditAction.values:
        raise ValueError(f"Unknown audit action {action!r}")
    return AuditEvent.objects.create(
        clinic_id=clinic_id,
        user=user if getattr(user, "is_authenticated", False) else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        detail=detail or {},
        ip_address=ip_address or client_ip(request),
    )


@contextmanager
def transaction_setting(name: str, value: str):
    """A transaction-local PostgreSQL setting the append-only trigger reads (a no-op on
    SQLite, where the demo has no trigger). Must run inside transaction.atomic()."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
    yield
    # Cleared on the way out (an outer transaction, as in tests, would keep it); after an
    # error the rollback of the block's savepoint or transaction clears it.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, '', true)", [name])


@contextmanager
def archiving():
    """Inside: rows of the append-only tables may be deleted (the archive; tests of what a
    deletion cascades to). Opens its own transaction."""
    with transaction.atomic(), transaction_setting("careloop.archiving", "on"):
        yield


def retention_cutoff(now=None):
    return (now or timezone.now()) - timedelta(days=settings.AUDIT_RETENTION_DAYS)


def _event_row(event: AuditEvent) -> dict:
    return {
        "id": event.pk,
        "clinic_id": event.clinic_id,
        "user_id": event.user_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "detail": event.detail,
        "ip_address": event.ip_address,
        "created_at": event.created_at.isoformat(),
    }


def audit_archive(*, now=None, batch_size: int = 50_000) -> tuple[int, Path | None]:
    """Move the audit events older than AUDIT_RETENTION_DAYS into a gzip-compressed JSON-lines
    file under AUDIT_ARCHIVE_DIR, in one transaction: the file is written and synced before
    the rows are deleted, and the rows are deleted only if the file is complete. A crash between
    the two leaves the rows in the table (the next run archives them again: a duplicate in the
    archive, never a loss). Returns (rows archived, file)."""
    cutoff = retention_cutoff(now)
    folder = Path(settings.AUDIT_ARCHIVE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    with archiving():
        events = list(
            AuditEvent.objects.select_for_update()
            .filter(created_at__lt=cutoff)
            .order_by("id")[:batch_size]
        )
        if not events:
            return 0, None
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
        path = folder / f"audit-{stamp}-{events[0].pk}-{events[-1].pk}.jsonl.gz"
        partial = path.with_suffix(".partial")
        with gzip.open(partial, "wt", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(_event_row(event), cls=DjangoJSONEncoder, ensure_ascii=False))
                out.write("\n")
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, path)
        AuditEvent.objects.filter(pk__in=[e.pk for e in events]).delete()
    return len(events), path


def archived_events(folder=None):
    """Every archived event, oldest file first (for an auditor's question, and the tests)."""
    folder = Path(folder or settings.AUDIT_ARCHIVE_DIR)
    for path in sorted(folder.glob("audit-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)
