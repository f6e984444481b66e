"""Refresh a clinic's dashboard summaries (patients.dashboard.models) from the live tables.

One clinic per call, in one transaction: recompute every row with set-based SELECTs, then write
only what changed (per patient, an upsert that skips identical rows and a delete of rows whose
patient or month is gone; the daily rollups, a full join of new and old rows), stamp
SummaryRefresh. Computing is cheap, writing a million rows and their
indexes is not: after the first run a refresh writes only the patients that moved. Readers keep
seeing the previous rows until the commit (MVCC), so the dashboard never shows a half-built
summary. Running it twice gives the same rows: the beat job may overlap or retry safely. PostgreSQL only (the SQLite demo keeps the
live figures: without a SummaryRefresh row the dashboard computes them directly)."""

import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from crm.models import Clinic
from patients.choices import JOURNEY, Stage
from patients.dashboard.models import DAILY_MEASURES, RetentionFact, SummaryRefresh
from patients.models import Patient

# A row per patient: attributes, first and second visit days, last touch, stages reached.
FACTS_SQL = """
INSERT INTO patients_retentionfact AS f (
    patient_id, clinic_id, assigned_doctor_id, source, stage, referred_by_id, created_at,
    first_visit, second_visit, last_touch_at, last_active, {reached_columns}
)
WITH firsts AS (
    SELECT patient_id, min(visit_date) AS first_visit
    FROM patients_visit WHERE clinic_id = %(clinic)s GROUP BY patient_id
), seconds AS (
    SELECT v.patient_id, min(v.visit_date) AS second_visit
    FROM patients_visit v JOIN firsts f ON f.patient_id = v.patient_id
    WHERE v.clinic_id = %(clinic)s AND v.visit_date > f.first_visit
    GROUP BY v.patient_id
), touches AS (
    SELECT patient_id, max(occurred_at) AS last_touch_at
    FROM patients_touch WHERE clinic_id = %(clinic)s
    AND kind NOT IN ('churn_signal', 'stage_change')  -- not a contact: NOT_CONTACT_KINDS
    GROUP BY patient_id
), reached AS (
    SELECT patient_id, {reached_aggregates}
    FROM patients_stagetransition WHERE clinic_id = %(clinic)s GROUP BY patient_id
)
SELECT p.id, p.clinic_id, p.assigned_doctor_id, p.source, p.stage, p.referred_by_id,
       p.created_at, f.first_visit, s.second_visit, t.last_touch_at,
       greatest(p.last_visit_date, (t.last_touch_at AT TIME ZONE %(tz)s)::date),
       {reached_values}
FROM patients_patient p
LEFT JOIN firsts f ON f.patient_id = p.id
LEFT JOIN seconds s ON s.patient_id = p.id
LEFT JOIN touches t ON t.patient_id = p.id
LEFT JOIN reached r ON r.patient_id = p.id
WHERE p.clinic_id = %(clinic)s
ON CONFLICT (patient_id) DO UPDATE SET {updates}
WHERE ({old}) IS DISTINCT FROM ({new})
"""

# Facts of patients no longer in the clinic (deleted outside the ORM's cascade).
FACTS_GONE_SQL = """
DELETE FROM patients_retentionfact f WHERE f.clinic_id = %(clinic)s
AND NOT EXISTS (SELECT 1 FROM patients_patient p WHERE p.id = f.patient_id AND p.clinic_id = f.clinic_id)
"""

# A row per patient and month with visits, labelled with the patient's first-visit month.
COHORTS_SQL = """
DROP TABLE IF EXISTS pg_temp.cohort_months;
CREATE TEMPORARY TABLE cohort_months ON COMMIT DROP AS
SELECT f.clinic_id, f.patient_id, f.assigned_doctor_id, f.source, f.first_visit,
       date_trunc('month', f.first_visit)::date AS cohort,
       date_trunc('month', v.visit_date)::date AS month,
       count(*) AS visits, coalesce(sum(v.amount), 0) AS amount
FROM patients_visit v JOIN patients_retentionfact f ON f.patient_id = v.patient_id
WHERE v.clinic_id = %(clinic)s AND f.clinic_id = %(clinic)s
GROUP BY f.clinic_id, f.patient_id, f.assigned_doctor_id, f.source, f.first_visit,
         date_trunc('month', v.visit_date);
INSERT INTO patients_cohortmonth AS c (
    clinic_id, patient_id, assigned_doctor_id, source, first_visit, cohort, month, visits, amount
)
SELECT clinic_id, patient_id, assigned_doctor_id, source, first_visit, cohort, month, visits,
       amount
FROM cohort_months
ON CONFLICT (clinic_id, patient_id, month) DO UPDATE SET
    assigned_doctor_id = EXCLUDED.assigned_doctor_id, source = EXCLUDED.source,
    first_visit = EXCLUDED.first_visit, cohort = EXCLUDED.cohort, visits = EXCLUDED.visits,
    amount = EXCLUDED.amount
WHERE (c.assigned_doctor_id, c.source, c.first_visit, c.visits, c.amount)
    IS DISTINCT FROM (EXCLUDED.assigned_doctor_id, EXCLUDED.source, EXCLUDED.first_visit,
                      EXCLUDED.visits, EXCLUDED.amount);
DELETE FROM patients_cohortmonth c WHERE c.clinic_id = %(clinic)s AND NOT EXISTS (
    SELECT 1 FROM cohort_months n WHERE n.patient_id = c.patient_id AND n.month = c.month
);
"""

# The daily rollups from the facts: one set of rows for the whole clinic (tag NULL) and one per
# tag, counting each patient under each tag they carry. Each count is grouped by its own day
# (creation, first visit, last activity), then the three are added up per tag, day and channel.
# Computed into temporary tables, then written by _sync_sql (only the rows that differ).
DAILY_SQL = """
DROP TABLE IF EXISTS pg_temp.daily_figures;
CREATE TEMPORARY TABLE daily_figures ON COMMIT DROP AS
WITH facts AS NOT MATERIALIZED (
    SELECT NULL::bigint AS tag_id, f.* FROM patients_retentionfact f
    WHERE f.clinic_id = %(clinic)s
    UNION ALL
    SELECT t.tag_id, f.* FROM patients_retentionfact f
    JOIN patients_taggedpatient t ON t.content_object_id = f.patient_id
    WHERE f.clinic_id = %(clinic)s
), surveys AS MATERIALIZED (
    -- A score counts as patients.dashboard.retention.satisfaction counts it: a JSON number within its
    -- scale's range; it is kept on the 5-point scale in hundredths.
    SELECT patient_id, (occurred_at AT TIME ZONE %(tz)s)::date AS day,
           payload->>'event' AS event,
           CASE WHEN payload->>'event' = 'answered' AND payload->'scale' IN ('5', '10')
                     AND jsonb_typeof(payload->'score') = 'number'
                     AND (payload->>'score')::numeric BETWEEN 0 AND 10
                THEN (payload->>'score')::numeric * 500 / (payload->>'scale')::numeric END
               AS centi
    FROM patients_touch WHERE clinic_id = %(clinic)s AND kind = 'survey'
)
SELECT tag_id, day, source, {sums}
FROM (
    SELECT tag_id, (created_at AT TIME ZONE %(tz)s)::date AS day, source, {by_creation}
    FROM facts GROUP BY 1, 2, 3
    UNION ALL
    SELECT tag_id, first_visit, source, {by_first_visit}
    FROM facts WHERE first_visit IS NOT NULL GROUP BY 1, 2, 3
    UNION ALL
    SELECT tag_id, last_active, source, {by_last_active}
    FROM facts WHERE stage <> 'churned' AND last_active IS NOT NULL GROUP BY 1, 2, 3
    UNION ALL
    SELECT tag_id, s.day, source, {by_survey_day}
    FROM facts JOIN surveys s ON s.patient_id = facts.patient_id GROUP BY 1, 2, 3
) g
GROUP BY tag_id, day, source;
ANALYZE daily_figures (tag_id, day, source);
DROP TABLE IF EXISTS pg_temp.cohort_days;
CREATE TEMPORARY TABLE cohort_days ON COMMIT DROP AS
SELECT NULL::bigint AS tag_id, first_visit, source, month, count(*) AS patients,
       sum(visits) AS visits, sum(amount) AS amount
FROM patients_cohortmonth WHERE clinic_id = %(clinic)s
GROUP BY first_visit, source, month
UNION ALL
SELECT t.tag_id, c.first_visit, c.source, c.month, count(*), sum(c.visits), sum(c.amount)
FROM patients_cohortmonth c JOIN patients_taggedpatient t ON t.content_object_id = c.patient_id
WHERE c.clinic_id = %(clinic)s
GROUP BY t.tag_id, c.first_visit, c.source, c.month;
ANALYZE cohort_days;
"""

# Write a computed rollup (a temporary table) into its table, touching only the rows that
# differ: one full join of the new rows with the clinic's old ones finds them. An upsert
# (ON CONFLICT DO UPDATE ... WHERE changed) locks, and so rewrites, every row it meets even
# when nothing changed. tag_id 0 stands for NULL in the join, since `IS NOT DISTINCT FROM`
# can be neither hashed nor merged (tag ids start at 1).
SYNC_SQL = """
DROP TABLE IF EXISTS pg_temp.{new}_diff;
CREATE TEMPORARY TABLE {new}_diff ON COMMIT DROP AS
SELECT o.id, n.* FROM {new} n
FULL JOIN (SELECT * FROM {table} WHERE clinic_id = %(clinic)s) o
    ON coalesce(n.tag_id, 0) = coalesce(o.tag_id, 0) AND {same_key}
WHERE ({new_values}) IS DISTINCT FROM ({old_values});
DELETE FROM {table} WHERE id IN (SELECT id FROM {new}_diff WHERE {first_key} IS NULL);
UPDATE {table} o SET {updates} FROM {new}_diff n
WHERE o.id = n.id AND n.{first_key} IS NOT NULL;
INSERT INTO {table} (clinic_id, tag_id, {columns})
SELECT %(clinic)s, tag_id, {columns} FROM {new}_diff WHERE id IS NULL;
"""

# Every column but the key, for the upsert.
FACT_COLUMNS = [
    "clinic_id",
    "assigned_doctor_id",
    "source",
    "stage",
    "referred_by_id",
    "created_at",
    "first_visit",
    "second_visit",
    "last_touch_at",
    "last_active",
    *(f"reached_{stage}" for stage in JOURNEY),
]


def _facts_sql() -> str:
    columns = [f"reached_{stage}" for stage in JOURNEY]
    return FACTS_SQL.format(
        reached_columns=", ".join(columns),
        reached_aggregates=", ".join(
            f"bool_or(to_stage = '{stage}') AS reached_{stage}" for stage in JOURNEY
        ),
        reached_values=", ".join(f"coalesce(r.reached_{stage}, false)" for stage in JOURNEY),
        updates=", ".join(f"{c} = EXCLUDED.{c}" for c in FACT_COLUMNS),
        old=", ".join(f"f.{c}" for c in FACT_COLUMNS),
        new=", ".join(f"EXCLUDED.{c}" for c in FACT_COLUMNS),
    )


def _daily_sql() -> str:
    counts = {"created": "count(*)", "referred": "count(referred_by_id)"}
    counts |= {f"now_{stage}": f"count(*) FILTER (WHERE stage = '{stage}')" for stage in Stage}
    counts |= {f"reached_{stage}": f"count(*) FILTER (WHERE reached_{stage})" for stage in JOURNEY}
    counts |= {
        f"pair_{a}": f"count(*) FILTER (WHERE reached_{a} AND reached_{b})"
        for a, b in zip(JOURNEY, JOURNEY[1:], strict=False)
    }
    counts["never_active"] = "count(*) FILTER (WHERE stage <> 'churned' AND last_active IS NULL)"
    by_first_visit = {
        "first": "count(*)",
        "revisited_90": "count(*) FILTER (WHERE second_visit <= first_visit + 90)",
    }
    by_last_active = {"silent": "count(*)"}
    by_survey_day = {
        "survey_sent": "count(*) FILTER (WHERE s.event = 'sent')",
        "survey_answered": "count(*) FILTER (WHERE s.event = 'answered')",
        "survey_scored": "count(s.centi)",
        "survey_score_centi": "coalesce(round(sum(s.centi)), 0)",
    }

    def columns(given: dict) -> str:
        # Every branch of the UNION lists every count in DAILY_MEASURES' order, 0 for others.
        return ", ".join(f"{given.get(name, 0)} AS {name}" for name in DAILY_MEASURES)

    return DAILY_SQL.format(
        sums=", ".join(f"sum({name}) AS {name}" for name in DAILY_MEASURES),
        by_creation=columns(counts),
        by_first_visit=columns(by_first_visit),
        by_last_active=columns(by_last_active),
        by_survey_day=columns(by_survey_day),
    )


def _sync_sql(*, table: str, new: str, keys: list[str], values: list[str]) -> str:
    return SYNC_SQL.format(
        table=table,
        new=new,
        same_key=" AND ".join(f"n.{k} = o.{k}" for k in keys),
        first_key=keys[0],
        new_values=", ".join(f"n.{v}" for v in values),
        old_values=", ".join(f"o.{v}" for v in values),
        updates=", ".join(f"{v} = n.{v}" for v in values),
        columns=", ".join(keys + values),
    )


DAILY_SYNC_SQL = _sync_sql(
    table="patients_dailyfigure", new="daily_figures", keys=["day", "source"], values=DAILY_MEASURES
)
COHORT_DAYS_SYNC_SQL = _sync_sql(
    table="patients_cohortday",
    new="cohort_days",
    keys=["first_visit", "source", "month"],
    values=["patients", "visits", "amount"],
)


def summaries_refresh(*, clinic_id: int) -> dict:
    """Refresh one clinic's summaries; returns its patients, the facts written, the time taken."""
    if connection.vendor != "postgresql":
        return {"clinic": clinic_id, "skipped": connection.vendor}
    started = time.monotonic()
    # Stamped before reading: anything written after this moment may be missing, never the
    # reverse, so "updated at" never claims more than the rows hold.
    as_of = timezone.now()
    params = {"clinic": clinic_id, "tz": settings.TIME_ZONE}
    with transaction.atomic(), connection.cursor() as cursor:
        # One refresh per clinic at a time; a second caller waits, then rebuilds again.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [9009, clinic_id])
        # The per-patient aggregates are hashed in memory rather than spilled to disk.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(_facts_sql(), params)
        changed = cursor.rowcount
        cursor.execute(FACTS_GONE_SQL, params)
        changed += cursor.rowcount
        maintain = _needs_maintenance(cursor, changed)
        if maintain:
            # Fresh statistics before the next statement and the readers: after a first run
            # the planner would take a million new rows for a handful and pick nested loops
            # (ANALYZE may run inside the transaction, VACUUM may not).
            cursor.execute("ANALYZE patients_retentionfact")
        cursor.execute(COHORTS_SQL, params)
        if maintain:
            cursor.execute("ANALYZE patients_cohortmonth")
        cursor.execute(_daily_sql(), params)
        cursor.execute(DAILY_SYNC_SQL, params)
        cursor.execute(COHORT_DAYS_SYNC_SQL, params)
        if maintain:
            cursor.execute("ANALYZE patients_dailyfigure, patients_cohortday")
        patients = RetentionFact.objects.filter(clinic_id=clinic_id).count()
        SummaryRefresh.objects.update_or_create(
            clinic_id=clinic_id,
            defaults={"refreshed_at": as_of, "patients": patients},
        )
    if maintain and not connection.in_atomic_block:
        summaries_maintain()
    duration_ms = round((time.monotonic() - started) * 1000)
    SummaryRefresh.objects.filter(clinic_id=clinic_id).update(duration_ms=duration_ms)
    return {"clinic": clinic_id, "patients": patients, "changed": changed, "ms": duration_ms}


# The summary tables hold every clinic's rows. ANALYZE samples, and VACUUM scans every index
# of, the whole table: run per clinic they cost the same for a clinic of ten patients as for
# all of them, and a round over 1,000 clinics spent most of its time there. A refresh runs
# them only when its own clinic changed a large part of the table (a first refresh, a big
# import); the small changes of a day are left to `summaries_maintain` (beat) and autovacuum.
MAINTAIN_MIN_ROWS = 1000
MAINTAIN_SHARE = 0.1


def _needs_maintenance(cursor, changed: int) -> bool:
    if changed < MAINTAIN_MIN_ROWS:
        return False
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'patients_retentionfact'::regclass")
    [estimated] = cursor.fetchone()
    # reltuples is -1 before the first ANALYZE: the planner knows nothing yet.
    return estimated < 0 or changed >= MAINTAIN_SHARE * estimated


SUMMARY_TABLES = (
    "patients_retentionfact, patients_cohortmonth, patients_dailyfigure, patients_cohortday"
)


def summaries_maintain() -> None:
    """VACUUM and ANALYZE the summary tables: updated rows leave dead index entries and clear
    pages' all-visible bits; VACUUM restores both, so the figures stay index-only scans, and
    the planner's statistics follow the rows. Outside a transaction (VACUUM refuses one)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {SUMMARY_TABLES}")


def clinics_with_patients() -> list[int]:
    has_patients = Exists(Patient.objects.filter(clinic=OuterRef("pk")))
    return list(Clinic.objects.filter(has_patients).values_list("pk", flat=True))
