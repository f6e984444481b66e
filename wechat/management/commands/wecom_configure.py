from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crm.models import Clinic
from wechat.accounts import wecom_account_configure
from wechat.callbacks import callback_url


class Command(BaseCommand):
    help = (
        "Set a clinic's WeCom settings (for deployment scripts) and print the callback URL "
        "to paste into WeCom. Empty secrets keep the stored ones. Safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="the clinic's slug")
        parser.add_argument("--corp-id", required=True)
        parser.add_argument("--agent-id", required=True)
        parser.add_argument("--secret", default="", help="the self-built app's secret")
        parser.add_argument("--token", default="", help="the callback Token")
        parser.add_argument("--aes-key", default="", help="the callback EncodingAESKey")
        parser.add_argument("--robot-key", default="", help="the team group robot's key")

    def handle(self, *args, **options):
        clinic = Clinic.objects.filter(slug=options["clinic"]).first()
        if clinic is None:
            raise CommandError(f"No clinic with slug {options['clinic']!r}.")
        try:
            wecom_account_configure(
                clinic=clinic,
                corp_id=options["corp_id"],
                agent_id=options["agent_id"],
                secret=options["secret"],
                callback_token=options["token"],
                encoding_aes_key=options["aes_key"],
                robot_key=options["robot_key"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"WeCom configured for {clinic.slug}.")
        self.stdout.write(f"Callback URL: {callback_url(clinic=clinic)}")
