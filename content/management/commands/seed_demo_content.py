from django.core.management.base import BaseCommand

from content.demo import seed_clinic
from crm.models import Clinic, Role


class Command(BaseCommand):
    help = "Add an article, a template, a survey and a draft campaign to the demo clinic. Safe to run twice."

    def handle(self, *args, **options):
        clinic = Clinic.objects.filter(slug="demo").first()
        if clinic is None:
            self.stdout.write("Run seed_demo first: there is no demo clinic.")
            return
        author = clinic.memberships.filter(role=Role.OPERATIONS).select_related("user").first()
        seed_clinic(clinic=clinic, author=author.user if author else None)
        self.stdout.write(self.style.SUCCESS("Demo content loaded."))
