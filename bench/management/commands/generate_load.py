import time

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bench.loadgen import followups as followups_loadgen
from bench.loadgen import patients as loadgen
from bench.loadgen.bulk_copy import analyze
from crm.models import Clinic, Membership, Role
from patients.clinic_defaults import clinic_setup_defaults

STAFF_MIX = {
    Role.DOCTOR: 0.2,
    Role.ASSISTANT: 0.4,
    Role.NURSE: 0.3,
    Role.OPERATIONS: 0.05,
    Role.ADMIN: 0.05,
}


class Command(BaseCommand):
    """A benchmark tool, not part of the product: it writes patients, follow-up tasks and
    outbox rows with COPY, so it lives in bench/, above every app."""

    help = "Build a deterministic hospital-scale dataset in PostgreSQL for benchmarks (COPY, not ORM saves)."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=10_000)
        parser.add_argument("--touches", type=int, default=100_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--clinic", default="load", help="slug of the clinic to create")
        parser.add_argument("--staff", type=int, default=200)
        parser.add_argument(
            "--due-at-nine",
            type=int,
            default=0,
            help="open tasks with a patient reminder due at 09:00 tomorrow (the morning batch)",
        )

    def handle(self, *args, patients, touches, seed, clinic, staff, due_at_nine, **options):
        if Clinic.objects.filter(slug=clinic).exists():
            # Deleting a million patients row by row is slower than building a new database.
            raise CommandError(
                f"Clinic '{clinic}' exists: load into a fresh database (see bench/README.md)."
            )
        started = time.monotonic()
        with transaction.atomic():
            target = Clinic.objects.create(slug=clinic, name=f"负载测试医院（{clinic}）")
            clinic_setup_defaults(clinic=target)
            members = self._staff(target, staff)
            stats = loadgen.generate_patients(
                clinic=target,
                patients=patients,
                touches=touches,
                seed=seed,
                doctors=members[Role.DOCTOR],
                assistants=members[Role.ASSISTANT] + members[Role.NURSE],
            )
            patients_done = time.monotonic()
            followups = followups_loadgen.generate_followups(
                clinic=target, seed=seed, due_at_nine=due_at_nine
            )
            followups_done = time.monotonic()
        analyze()
        self.stdout.write(
            f"Clinic {clinic}: {stats.patients} patients, {stats.touches} touches, {stats.visits} visits, "
            f"{stats.transitions} stage transitions, {stats.tagged} patient tags "
            f"in {patients_done - started:.1f} s; {followups.plans} care plans, "
            f"{followups.tasks} follow-up tasks ({followups.open_tasks} open, "
            f"{followups.overdue_tasks} overdue, {followups.due_at_nine} due at 09:00 tomorrow), "
            f"{followups.deliveries} deliveries in {followups_done - patients_done:.1f} s; "
            f"total with ANALYZE {time.monotonic() - started:.1f} s"
        )

    def _staff(self, clinic, count):
        """Staff logins (password 'load-test', benchmarks only), hashed once."""
        password = make_password("load-test")
        users, roles = [], []
        for role, share in STAFF_MIX.items():
            for n in range(max(1, int(count * share))):
                users.append(
                    get_user_model()(username=f"{clinic.slug}-{role}-{n}", password=password)
                )
                roles.append(role)
        users = get_user_model().objects.bulk_create(users)
        Membership.objects.bulk_create(
            Membership(
                user=u, clinic=clinic, role=r, display_name=u.username, wecom_userid=u.username
            )
            for u, r in zip(users, roles, strict=True)
        )
        members = {role: [] for role in STAFF_MIX}
        for user, role in zip(users, roles, strict=True):
            members[role].append(user.pk)
        return members
