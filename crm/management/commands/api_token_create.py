from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from crm.api_tokens import api_token_create
from crm.models import Membership


class Command(BaseCommand):
    help = (
        "Make an API token for a staff member (replacing any old one) and print it once. "
        "Only its digest is stored; it expires after API_TOKEN_TTL_DAYS."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        membership = user and Membership.objects.filter(user=user).first()
        if membership is None:
            raise CommandError(f"No staff member with the username {username!r}.")
        key = api_token_create(membership=membership)
        # The same first words as DRF's drf_create_token: scripts take the third word.
        self.stdout.write(f"Generated token {key} for user {username}")
