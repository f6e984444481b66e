"""One beat round of the dashboard summaries over every clinic of a many-clinic database
(bench/many_clinics.py grows one): each clinic gets a little new activity (a touch on 5 of its
patients, as between two rounds of a working day), then every clinic is refreshed in turn, as
the bulk worker runs the round's tasks. Printed: the round's total and the per-clinic median,
p95 and max, in ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/careloop_clinics20_bench DEBUG=1 \\
    .venv/bin/python bench/summaries_round.py --rounds 3 [--maintain-every-clinic]

`--maintain-every-clinic` runs the tables' ANALYZE and VACUUM in every clinic's refresh, as
before session 8, to compare.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--maintain-every-clinic", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.utils import timezone

    from patients.choices import TouchChannel, TouchKind
    from patients.dashboard import summaries
    from patients.models import Patient, Touch

    if args.maintain_every_clinic:
        summaries.MAINTAIN_MIN_ROWS = 0
        summaries.MAINTAIN_SHARE = 0
    clinics = summaries.clinics_with_patients()
    for clinic_id in clinics:  # the first refresh of each, not measured
        summaries.summaries_refresh(clinic_id=clinic_id)
    for round_no in range(1, args.rounds + 1):
        for clinic_id in clinics:
            patients = Patient.objects.filter(clinic_id=clinic_id).order_by("?")[:5]
            Touch.objects.bulk_create(
                Touch(
                    clinic_id=clinic_id,
                    patient=p,
                    kind=TouchKind.NOTE,
                    channel=TouchChannel.PHONE,
                    summary="bench",
                    occurred_at=timezone.now(),
                )  # fmt: skip
                for p in patients
            )
        per_clinic = []
        started = time.monotonic()
        for clinic_id in clinics:
            one = time.monotonic()
            summaries.summaries_refresh(clinic_id=clinic_id)
            per_clinic.append((time.monotonic() - one) * 1000)
        total = time.monotonic() - started
        per_clinic.sort()
        p95 = per_clinic[min(len(per_clinic) - 1, int(len(per_clinic) * 0.95))]
        print(
            f"round {round_no}: {len(clinics)} clinics in {total:.2f} s; per clinic median "
            f"{statistics.median(per_clinic):.0f} ms, p95 {p95:.0f} ms, max {per_clinic[-1]:.0f} ms"
        )


if __name__ == "__main__":
    main()
