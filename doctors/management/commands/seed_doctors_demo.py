from django.core.management.base import BaseCommand
from django.db import transaction

from crm.models import Clinic, Membership
from doctors.demo import seed_clinic


class Command(BaseCommand):
    help = "Add Doctor IP demo data (positioning, accounts, followers, posts) to the demo clinic."

    def handle(self, *args, **options):
        clinic = Clinic.objects.filter(slug="demo").first()
        if clinic is None:
            self.stdout.write("No demo clinic: run seed_demo first.")
            return
        staff = {
            m.role: m.user for m in Membership.objects.filter(clinic=clinic).select_related("user")
        }
        with transaction.atomic():
            seed_clinic(clinic=clinic, staff=staff)
        self.stdout.write("Doctor IP demo data loaded.")
