from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.two_factor import current_code


class Command(BaseCommand):
    help = (
        "Demo and development only (DEBUG=1): print the current second-factor code of a user, "
        "as their authenticator app would show it (the demo admin: `totp_code admin`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        if not settings.DEBUG:
            raise CommandError("totp_code is for the demo only; it refuses when DEBUG is off.")
        device = TOTPDevice.objects.filter(user__username=username, confirmed=True).first()
        if device is None:
            raise CommandError(f"{username} has no authenticator enrolled.")
        self.stdout.write(current_code(device))
