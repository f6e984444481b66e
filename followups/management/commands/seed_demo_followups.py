from django.core.management.base import BaseCommand

from crm.models import Clinic
from followups.demo import seed_appointments, seed_clinic


class Command(BaseCommand):
    help = "Add follow-up templates, plans and appointments to the demo clinic. Safe to run twice."

    def handle(self, *args, **options):
        clinic = Clinic.objects.filter(slug="demo").first()
        if clinic is None:
            self.stdout.write("Run seed_demo first: there is no demo clinic.")
            return
        started = seed_clinic(clinic=clinic)
        self.stdout.write(self.style.SUCCESS(f"Demo follow-ups loaded: {started} plans started."))
        booked = seed_appointments(clinic=clinic)
        self.stdout.write(self.style.SUCCESS(f"Demo appointments: {booked} added."))
