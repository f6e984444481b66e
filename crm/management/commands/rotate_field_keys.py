from django.core.management.base import BaseCommand

from crm.keys import field_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column with the first FIELD_ENCRYPTION_KEY and re-hash "
        "every lookup hash with the first FIELD_HASH_KEY (README: Rotating keys). Safe to run "
        "again; run it after putting the new key first and before removing the old one."
    )

    def handle(self, *args, **options):
        for label, count in field_keys_rotate().items():
            self.stdout.write(f"{label}: {count} rows rotated")
