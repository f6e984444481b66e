from django.core.management.base import BaseCommand

from crm.audit import audit_archive


class Command(BaseCommand):
    help = (
        "Move audit events older than AUDIT_RETENTION_DAYS into a compressed JSON-lines file "
        "under AUDIT_ARCHIVE_DIR (also run daily by beat)."
    )

    def handle(self, *args, **options):
        total = 0
        while True:
            count, path = audit_archive()
            if not count:
                break
            total += count
            self.stdout.write(f"Archived {count} audit events to {path}")
        self.stdout.write(f"{total} audit events archived.")
