from django.core.management.base import BaseCommand
from django.db import transaction

from crm.models import Clinic, Role
from crm.services import staff_create
from crm.two_factor import second_factor_enrol_demo
from patients.clinic_defaults import clinic_setup_defaults
from patients.demo import seed_patients, seed_wards

DEMO_PASSWORD = "CareLoop-demo-1"  # demo only: documented in the README, never for real data
# The demo admin's authenticator secret (demo only, printed by `make run`): admins always sign in
# with a second factor; `manage.py totp_code admin` shows the current code of the demo. In an
# authenticator app, the secret is MNQXEZLMN5XXALLEMVWW6LLUN52HAIJB (this key in base32).
DEMO_ADMIN_TOTP_KEY = "636172656c6f6f702d64656d6f2d746f74702121"
DEMO_STAFF = [
    ("admin", Role.ADMIN, "周主任"),
    ("doctor", Role.DOCTOR, "王医生"),
    ("assistant", Role.ASSISTANT, "李助理"),
    ("nurse", Role.NURSE, "陈护士"),
    ("operations", Role.OPERATIONS, "赵运营"),
]


class Command(BaseCommand):
    help = "Load the demo clinic (slug 'demo') with staff logins and about 500 patients. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=500)

    def handle(self, *args, patients, **options):
        if Clinic.objects.filter(slug="demo").exists():
            self.stdout.write("The demo clinic is already loaded.")
            return
        with transaction.atomic():
            clinic = Clinic.objects.create(name="康复医馆（演示）", slug="demo")
            clinic_setup_defaults(clinic=clinic)
            members = {
                username: staff_create(
                    clinic=clinic,
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    display_name=name,
                    wecom_userid=f"demo-{username}",
                )
                for username, role, name in DEMO_STAFF
            }
            second_factor_enrol_demo(user=members["admin"].user, key=DEMO_ADMIN_TOTP_KEY)
            created = seed_patients(
                clinic=clinic,
                count=patients,
                doctors=[members["doctor"].user],
                assistants=[members["assistant"].user, members["nurse"].user],
                wards=seed_wards(clinic=clinic, nurses=[members["nurse"]]),
            )
        self.stdout.write(self.style.SUCCESS(f"Demo clinic loaded: {len(created)} patients."))
