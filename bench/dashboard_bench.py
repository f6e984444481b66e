"""Time each retention-dashboard figure for a year at the benchmark clinic, beside its floors.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/careloop_bench \\
      .venv/bin/python bench/dashboard_bench.py --label 1m [--live] [--explain] [--runs 5]

Refreshes the clinic's summary tables (timed: the beat job's own cost), then for each figure
prints the median over the runs, in process, of:
  ours         the function the dashboard calls (patients.dashboard.retention_summaries);
  floor        the same result by one hand-written SQL query on the live tables: what the best
               query without summaries costs;
  sum floor    the same result by hand-written SQL on the summary tables: what ours can at
               best be, so ours / sum floor is the ORM's and Python's overhead;
  live         with --live, the live path (patients.dashboard.retention), once: the cost before issue 9.
With --explain, EXPLAIN ANALYZE of ours, the floor and the summary floor goes to
bench/explain/dashboard_<figure>.txt (one section per --label, replaced on re-run).
"""

import argparse
import os
import re
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django  # noqa: E402

django.setup()

from dashboard_floors import FLOORS, SUMMARY_FLOORS  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from crm.models import Clinic  # noqa: E402
from patients.dashboard import retention, retention_summaries  # noqa: E402
from patients.dashboard.summaries import summaries_refresh  # noqa: E402
from patients.models import Patient, PatientTag, TaggedPatient  # noqa: E402

EXPLAIN_DIR = Path(__file__).resolve().parent / "explain"
FIGURES = [
    ("revisit", "revisit_rate", "period"),
    ("churn", "churn", "period"),
    ("at_risk", "at_risk", "today"),
    ("referral", "referral_rate", "period"),
    ("sources", "source_channels", "period"),
    ("satisfaction", "satisfaction", "period"),
    ("funnel", "journey_funnel", "period"),
    ("cohorts", "cohort_retention", "period"),
]


def median_ms(call, runs):
    call()  # warm the cache and the plan
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run_sql(queries, params):
    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(sql, params)
            cursor.fetchall()


def explain(sql, params):
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def write_explain(name, label, sections):
    path = EXPLAIN_DIR / f"dashboard_{name}.txt"
    text = path.read_text() if path.exists() else ""
    # One section per dataset label, replaced when the same label is measured again.
    pattern = re.compile(rf"^=== {re.escape(label)} ===\n.*?(?=^=== |\Z)", re.S | re.M)
    text = pattern.sub("", text)
    body = f"=== {label} ===\n" + "\n\n".join(sections) + "\n\n"
    path.write_text(text + body)


def floor_params(*, clinic_id, start, end, today, window=90, risk_days=90) -> dict:
    """The floors' query parameters for a period, as the dashboard reads it."""
    tz = timezone.get_current_timezone()
    cutoff = today - timedelta(days=risk_days)
    return {
        "clinic": clinic_id,
        "start": start,
        "end": end,
        "lo": datetime.combine(start, datetime.min.time(), tzinfo=tz),
        "hi": datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=tz),
        "window": window,
        "cutoff": cutoff,
        "since": datetime.combine(cutoff, datetime.min.time(), tzinfo=tz),
    }


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", default="bench", help="dataset name for the EXPLAIN files")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--live", action="store_true", help="also time the live path, once")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--no-refresh", action="store_true")
    parser.add_argument("--only", nargs="*", help="these figures only (e.g. at_risk churn)")
    parser.add_argument(
        "--filters", action="store_true", help="also time every figure under each filter"
    )
    args = parser.parse_args(argv)

    clinic = max(Clinic.objects.all(), key=lambda c: Patient.objects.filter(clinic=c).count())
    today = timezone.localdate()
    start, end = today - timedelta(days=364), today
    params = floor_params(clinic_id=clinic.pk, start=start, end=end, today=today)
    patients = Patient.objects.filter(clinic=clinic).count()
    print(f"clinic {clinic.slug}: {patients} patients; period {start} … {end}; {args.runs} runs")
    print(f"load average {os.getloadavg()}")
    if not args.no_refresh:
        report = summaries_refresh(clinic_id=clinic.pk)
        print(f"summaries refresh: {report['ms']} ms for {report['patients']} patients")

    header = f"{'figure':13} {'ours':>9} {'floor':>9} {'ratio':>7} {'sum floor':>10} {'ratio':>7}"
    print(header + (f" {'live':>10}" if args.live else ""))
    for name, function, kind in FIGURES:
        if args.only and name not in args.only:
            continue
        kwargs = {"clinic": clinic}
        kwargs |= {"today": today} if kind == "today" else {"start": start, "end": end}

        def ours(function=function, kwargs=kwargs):
            return getattr(retention_summaries, function)(**kwargs)

        ours_ms = median_ms(ours, args.runs)
        floor_ms = median_ms(lambda name=name: run_sql(FLOORS[name], params), args.runs)
        sum_ms = median_ms(lambda name=name: run_sql(SUMMARY_FLOORS[name], params), args.runs)
        line = (
            f"{name:13} {ours_ms:7.1f}ms {floor_ms:7.1f}ms {ours_ms / floor_ms:7.2f} "
            f"{sum_ms:8.1f}ms {ours_ms / sum_ms:7.2f}"
        )
        if args.live:
            started = time.perf_counter()
            getattr(retention, function)(**kwargs)
            line += f" {(time.perf_counter() - started) * 1000:8.1f}ms"
        print(line, flush=True)
        if args.explain:
            with CaptureQueriesContext(connection) as captured:
                ours()
            sections = [
                f"-- ours ({function} from the summary tables), query {i + 1}\n{q['sql']}\n"
                + explain(q["sql"], None)
                for i, q in enumerate(captured.captured_queries)
            ]
            sections += [
                f"-- floor on the live tables, query {i + 1}\n{sql.strip()}\n"
                + explain(sql, params)
                for i, sql in enumerate(FLOORS[name])
            ]
            sections += [
                f"-- floor on the summary tables, query {i + 1}\n{sql.strip()}\n"
                + explain(sql, params)
                for i, sql in enumerate(SUMMARY_FLOORS[name])
            ]
            write_explain(name, args.label, sections)
    if args.filters:
        time_filters(clinic, start, end, today, args.runs)


def time_filters(clinic, start, end, today, runs):
    """Each figure under the dashboard's filters: with a doctor (or a revisit window other than
    90 days) the figures come from the per-patient facts; with a tag or a channel from the
    daily rollups, as without a filter."""
    tagged = TaggedPatient.objects.filter(tag__clinic=clinic)
    tag = PatientTag.objects.get(
        pk=tagged.values("tag").annotate(n=Count("*")).order_by("-n")[0]["tag"]
    )
    doctor_id = (
        Patient.objects.filter(clinic=clinic, assigned_doctor__isnull=False)
        .values("assigned_doctor")
        .annotate(n=Count("*"))
        .order_by("-n")[0]["assigned_doctor"]
    )
    doctor = get_user_model().objects.get(pk=doctor_id)
    cases = [
        ("doctor (busiest)", {"doctor": doctor}),
        (f"tag (most used, {tagged.filter(tag=tag).count()} patients)", {"tag": tag}),
        ("channel wecom_qr", {"source": "wecom_qr"}),
        ("window 30 days", {"window_days": 30}),
    ]
    print(f"{'filter':40} " + " ".join(f"{name:>9}" for name, _, _ in FIGURES))
    for label, filters in cases:
        cells = []
        for _name, function, kind in FIGURES:
            kwargs = {"clinic": clinic, **filters}
            if function not in ("revisit_rate", "source_channels"):
                kwargs.pop("window_days", None)
            kwargs |= {"today": today} if kind == "today" else {"start": start, "end": end}
            call = getattr(retention_summaries, function)
            cells.append(median_ms(lambda call=call, kwargs=kwargs: call(**kwargs), runs))
        print(f"{label:40} " + " ".join(f"{ms:7.1f}ms" for ms in cells), flush=True)


if __name__ == "__main__":
    main()
