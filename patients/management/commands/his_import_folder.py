"""Import the HIS's visit files from a drop folder, for cron (e.g. every 15 minutes):

    manage.py his_import_folder --clinic <slug> /srv/his-drop

Each *.csv / *.xlsx in the folder is imported (patients/his_import.py) and moved to done/,
with a <name>.report.txt beside it listing the rows not taken. A file imported twice records
its visits once (idempotent by the HIS visit id).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crm.models import Clinic
from patients.his_import import his_visits_import_file


class Command(BaseCommand):
    help = "Import HIS visit files (CSV/.xlsx) from a drop folder for one clinic."

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--clinic", required=True, help="the clinic's slug")

    def handle(self, folder, clinic, **options):
        try:
            clinic_row = Clinic.objects.get(slug=clinic)
        except Clinic.DoesNotExist as exc:
            raise CommandError(f"No clinic with slug {clinic!r}.") from exc
        drop = Path(folder)
        if not drop.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        done = drop / "done"
        done.mkdir(exist_ok=True)
        for path in sorted(drop.iterdir()):
            if not path.is_file() or path.suffix.lower() not in (".csv", ".xlsx"):
                continue
            result = his_visits_import_file(
                clinic=clinic_row, content=path.read_bytes(), file_name=path.name
            )
            (done / f"{path.name}.report.txt").write_text(
                "\n".join(result["messages"]) + "\n", encoding="utf-8"
            )
            path.rename(done / path.name)
            self.stdout.write(
                f"{path.name}: {result['created']} created, {result['updated']} updated, "
                f"{result['unchanged']} unchanged, {len(result['messages'])} problems"
            )
