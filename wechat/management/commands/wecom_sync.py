from django.core.management.base import BaseCommand, CommandError

from wechat.models import WeComAccount
from wechat.sync import contacts_sync
from wechat.transport import WeComError


class Command(BaseCommand):
    help = (
        "Pull WeCom's follow users, their external contacts and the corp tag library; backfill "
        "patients added before CareLoop and reconcile both ways (no duplicates)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clinic", help="one clinic's slug (default: every clinic)")

    def handle(self, *args, clinic=None, **options):
        accounts = WeComAccount.objects.select_related("clinic")
        if clinic:
            accounts = accounts.filter(clinic__slug=clinic)
            if not accounts.exists():
                raise CommandError(f"No WeCom account for clinic {clinic!r}.")
        for account in accounts:
            try:
                report = contacts_sync(account=account)
            except WeComError as exc:
                raise CommandError(f"{account.clinic.slug}: {exc}") from exc
            self.stdout.write(
                f"{account.clinic.slug}: {len(report.staff)} staff, "
                f"{report.patients_created} patients created, {report.patients_linked} linked, "
                f"{report.contacts_gone} no longer contacts; tags: {report.tags_linked} linked, "
                f"{report.tags_created_here} created here, "
                f"{report.tags_created_in_wecom} created in WeCom"
            )
