import time

from django.core.management.base import BaseCommand
from django.db.models import OuterRef, Subquery

from wechat.fake import serve_in_thread


class Command(BaseCommand):
    help = "Run the fake WeCom server (development, tests, demo). Point WECOM_API_BASE_URL at it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--contacts-from-db",
            action="store_true",
            help="Demo: start with the database's WeCom patients as contacts of their assistant "
            "and doctor, as a real corp would have them.",
        )

    def handle(self, *args, host, port, contacts_from_db=False, **options):
        fake, server, base_url = serve_in_thread(host=host, port=port)
        if contacts_from_db:
            self.stdout.write(f"{self._load_contacts(fake)} contact relations loaded")
        self.stdout.write(f"Fake WeCom listening; set WECOM_API_BASE_URL={base_url}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.shutdown()

    def _load_contacts(self, fake) -> int:
        from crm.models import Membership
        from patients.models import Patient

        def userid(field):
            return Subquery(
                Membership.objects.filter(user_id=OuterRef(field), clinic_id=OuterRef("clinic_id"))
                .exclude(wecom_userid="")
                .values("wecom_userid")[:1]
            )

        rows = (
            Patient.objects.exclude(external_userid="")
            .annotate(a=userid("assigned_assistant_id"), d=userid("assigned_doctor_id"))
            .values_list("external_userid", "name", "a", "d")
        )
        n = 0
        for external_userid, name, *staff in rows.iterator():
            for member in {s for s in staff if s}:
                fake.add_contact(userid=member, external_userid=external_userid, name=name)
                n += 1
        return n
