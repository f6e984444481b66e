"""A platform of many clinics on one database: grow to 10, 100 and 1,000 clinics of 1,000
patients each (generate_patients, the benchmark dataset's generator, per clinic) and measure, at
each size, the per-clinic reads of a staff member of a sample of clinics, through the API in
this process (Django's test client: the view, the serializer, every query):

- the patient list's first page (GET /api/patients/),
- the list with a tag filter and a search,
- the patient page's API (GET /api/patients/{id}/),
- the dashboard (GET /api/dashboard/).

The claim to check: a clinic's reads cost the same whatever the number of other clinics (every
query starts from the clinic's indexes). Figures: the median of 15 runs per read per sampled
clinic, then the median over the sampled clinics; the rows each read returns are the same
shape at every size. Output: a Markdown table on stdout, JSON to bench/results/.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/careloop_clinics_bench DEBUG=1 \\
    .venv/bin/python bench/many_clinics.py --sizes 10,100,1000 --patients 1000

The database is created if missing and grown in place (a run with a larger last size adds
clinics to the ones there).
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

from wecom_callbacks import ensure_database  # noqa: E402

RUNS = 15
SAMPLE = 5  # clinics measured at each size: the first, the last and three between


def grow_to(count: int, patients: int) -> None:
    from bench.loadgen.patients import generate_patients
    from crm.models import Clinic
    from crm.services import staff_create
    from patients.clinic_defaults import clinic_setup_defaults

    have = Clinic.objects.filter(slug__startswith="many-").count()
    for n in range(have, count):
        clinic = Clinic.objects.create(slug=f"many-{n:04d}", name=f"诊所{n:04d}")
        clinic_setup_defaults(clinic=clinic)
        doctor = staff_create(
            clinic=clinic, username=f"many-{n:04d}-doctor", password="Qv7!trn-Lp92x",
            role="doctor",
        ).user.pk  # fmt: skip
        assistant = staff_create(
            clinic=clinic, username=f"many-{n:04d}-assistant", password="Qv7!trn-Lp92x",
            role="assistant",
        ).user.pk  # fmt: skip
        generate_patients(
            clinic=clinic, patients=patients, touches=patients * 3, doctors=[doctor],
            assistants=[assistant], seed=n + 1,
        )  # fmt: skip
        if (n + 1) % 50 == 0:
            print(f"  {n + 1} clinics", file=sys.stderr, flush=True)


def analyse() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(client, url: str) -> tuple[float, int]:
    times = []
    status = 0
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    return statistics.median(times), status


def measure(count: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from patients.dashboard.summaries import summaries_refresh
    from patients.models import Patient

    slugs = sorted({0, count // 4, count // 2, (3 * count) // 4, count - 1})[:SAMPLE]
    reads = {"list": [], "list_tag_search": [], "patient": [], "dashboard": [], "refresh": []}
    for n in slugs:
        user = get_user_model().objects.get(username=f"many-{n:04d}-doctor")
        # The dashboard reads the clinic's summaries, which beat refreshes every 15 minutes per
        # clinic: refresh the sampled clinic's (timed: that job's cost also grows with clinics).
        started = time.perf_counter()
        summaries_refresh(clinic_id=user.memberships.get().clinic_id)
        reads["refresh"].append((time.perf_counter() - started) * 1000)
        client = Client()
        client.force_login(user)
        membership = user.memberships.get()
        tag = membership.clinic.tags.order_by("id").first()
        patient = Patient.objects.filter(clinic=membership.clinic).order_by("id").first()
        client.get("/api/patients/")  # warm: connection, session, caches
        for name, url in (
            ("list", "/api/patients/"),
            ("list_tag_search", f"/api/patients/?tags={tag.pk}&q=张"),
            ("patient", f"/api/patients/{patient.pk}/"),
            ("dashboard", "/api/dashboard/"),
        ):
            ms, status = timed(client, url)
            assert status == 200, (url, status)
            reads[name].append(ms)
    return {name: round(statistics.median(values), 1) for name, values in reads.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument(
        "--grow-only", action="store_true", help="grow to the last size, measure nothing"
    )
    parser.add_argument(
        "--measure-only", action="store_true", help="measure the clinics there, grow nothing"
    )
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from crm.models import Clinic

    call_command("migrate", "--noinput", verbosity=0)
    # The staff of 1,000 clinics sign in through force_login: their password hashes are never
    # checked, so the bench does not spend 2,000 PBKDF2 rounds making them.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    rows = []
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.grow_only:
        grow_to(sizes[-1], args.patients)
        analyse()
        return
    if args.measure_only:
        sizes = [Clinic.objects.filter(slug__startswith="many-").count()]
    for count in sizes:
        started = time.monotonic()
        if not args.measure_only:
            grow_to(count, args.patients)
            analyse()
        grown = round(time.monotonic() - started)
        figures = measure(count)
        rows.append({"clinics": count, "grow_seconds": grown, **figures,
                     "load_average": [round(x, 2) for x in os.getloadavg()]})  # fmt: skip
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if args.measure_only:
        print(json.dumps(rows[-1]))
        return
    first = rows[0]
    print(
        "| clinics | list | list, tag + search | patient | dashboard | summaries refresh | load |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        cells = [
            f"{row[k]} ms ({row[k] / first[k]:.2f}×)"
            for k in ("list", "list_tag_search", "patient", "dashboard", "refresh")
        ]
        print(f"| {row['clinics']} | " + " | ".join(cells) + f" | {row['load_average'][0]} |")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "many-clinics.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
