"""Hand-written SQL for each dashboard figure (issue 9's "floor"), no filters, one clinic and a
period; parameters: clinic, start, end (dates), lo, hi (the period as timestamps), window (days),
cutoff (today - 90 days), since (cutoff at 00:00 local).

FLOORS compute each figure from the live tables, as well as we could write it by hand;
SUMMARY_FLOORS from the summary tables (patients.dashboard.models). Each is a list: the queries
one figure needs (at risk: a count and a list; referral: counts and the top five)."""

JOURNEY = ["lead", "converted", "booked", "arrived", "consulted", "dispensed", "after_visit"]
JOURNEY += ["maintained"]
STAGES = [*JOURNEY, "churned"]

FIRSTS = """firsts AS (
    SELECT patient_id, min(visit_date) AS first_visit FROM patients_visit
    WHERE clinic_id = %(clinic)s GROUP BY patient_id
)"""

REVISITED = """EXISTS (
    SELECT 1 FROM patients_visit v WHERE v.patient_id = f.patient_id
    AND v.visit_date > f.first_visit AND v.visit_date <= f.first_visit + %(window)s)"""

SURVEYS = """
SELECT count(*) FILTER (WHERE payload->>'event' = 'sent'),
       count(*) FILTER (WHERE payload->>'event' = 'answered'),
       avg(CASE WHEN payload->>'event' = 'answered' AND payload->'scale' IN ('5', '10')
                 AND jsonb_typeof(payload->'score') = 'number'
                 AND (payload->>'score')::float BETWEEN 0 AND 10
            THEN (payload->>'score')::float * 5 / (payload->>'scale')::float END)
FROM patients_touch
WHERE clinic_id = %(clinic)s AND kind = 'survey' AND occurred_at >= %(lo)s AND occurred_at < %(hi)s
"""

CHURN = """
SELECT count(*), count(*) FILTER (WHERE by_stage), count(*) FILTER (WHERE by_wecom)
FROM (
    SELECT patient_id, bool_or(by_stage) AS by_stage, bool_or(NOT by_stage) AS by_wecom
    FROM (
        SELECT patient_id, true AS by_stage FROM patients_stagetransition
        WHERE clinic_id = %(clinic)s AND to_stage = 'churned' AND at >= %(lo)s AND at < %(hi)s
        UNION ALL
        SELECT patient_id, false FROM patients_touch
        WHERE clinic_id = %(clinic)s AND kind = 'churn_signal'
          AND occurred_at >= %(lo)s AND occurred_at < %(hi)s
    ) events GROUP BY patient_id
) churned
"""

_NOW = ", ".join(f"count(*) FILTER (WHERE c.stage = '{s}')" for s in STAGES)
_PAIRS = list(zip(JOURNEY, JOURNEY[1:], strict=False))

# Silent (no visit, no contact: a churn signal or a stage change is not one), or churned by
# losing every WeCom contact and not back since (PatientQuerySet.at_risk).
LIVE_AT_RISK = """FROM patients_patient p
WHERE p.clinic_id = %(clinic)s AND (
  (p.stage <> 'churned'
   AND (p.last_visit_date IS NULL OR p.last_visit_date < %(cutoff)s)
   AND NOT EXISTS (SELECT 1 FROM patients_touch t WHERE t.patient_id = p.id
                   AND t.occurred_at >= %(since)s
                   AND t.kind NOT IN ('churn_signal', 'stage_change')))
  OR (p.stage = 'churned'
   AND EXISTS (SELECT 1 FROM patients_touch t WHERE t.patient_id = p.id
               AND t.kind = 'churn_signal' AND (t.payload ->> 'contacts_left') = '0'
               AND t.occurred_at >= p.stage_changed_at)))"""

FLOORS = {
    "revisit": [
        f"WITH {FIRSTS} SELECT count(*), count(*) FILTER (WHERE {REVISITED}) FROM firsts f "
        "WHERE f.first_visit BETWEEN %(start)s AND %(end)s"
    ],
    "churn": [CHURN],
    "at_risk": [
        f"SELECT count(*) {LIVE_AT_RISK}",
        # Those who deleted the clinic on WeCom first, then the longest silent.
        "SELECT p.id, p.name, p.phone_masked, p.stage, p.last_visit_date, "
        "(SELECT max(occurred_at) FROM patients_touch t WHERE t.patient_id = p.id "
        "AND t.kind NOT IN ('churn_signal', 'stage_change')) AS last_touch "
        f"{LIVE_AT_RISK} ORDER BY p.stage = 'churned' DESC, last_touch ASC NULLS FIRST, p.id "
        "LIMIT 20",
    ],
    "referral": [
        "SELECT count(*), count(referred_by_id) FROM patients_patient "
        "WHERE clinic_id = %(clinic)s AND created_at >= %(lo)s AND created_at < %(hi)s",
        "SELECT r.id, r.name, n FROM (SELECT referred_by_id, count(*) AS n FROM patients_patient "
        "WHERE clinic_id = %(clinic)s AND created_at >= %(lo)s AND created_at < %(hi)s "
        "AND referred_by_id IS NOT NULL GROUP BY referred_by_id) x "
        "JOIN patients_patient r ON r.id = x.referred_by_id ORDER BY n DESC, r.name LIMIT 5",
    ],
    "sources": [
        "SELECT source, count(*) FROM patients_patient WHERE clinic_id = %(clinic)s "
        "AND created_at >= %(lo)s AND created_at < %(hi)s GROUP BY source",
        f"WITH {FIRSTS} SELECT p.source, count(*), count(*) FILTER (WHERE {REVISITED}) "
        "FROM firsts f JOIN patients_patient p ON p.id = f.patient_id "
        "WHERE f.first_visit BETWEEN %(start)s AND %(end)s GROUP BY p.source",
    ],
    "satisfaction": [SURVEYS],
    "funnel": [
        "WITH c AS (SELECT id, stage FROM patients_patient WHERE clinic_id = %(clinic)s "
        "AND created_at >= %(lo)s AND created_at < %(hi)s), "
        "r AS (SELECT t.patient_id, "
        + ", ".join(f"bool_or(t.to_stage = '{s}') AS {s}" for s in JOURNEY)
        + " FROM patients_stagetransition t JOIN c ON c.id = t.patient_id GROUP BY t.patient_id) "
        f"SELECT {_NOW}, "
        + ", ".join(f"count(*) FILTER (WHERE r.{s})" for s in JOURNEY)
        + ", "
        + ", ".join(f"count(*) FILTER (WHERE r.{a} AND r.{b})" for a, b in _PAIRS)
        + " FROM c LEFT JOIN r ON r.patient_id = c.id"
    ],
    # Every cohort patient has a visit in their first month, so the sizes are month 0's rows.
    "cohorts": [
        f"WITH {FIRSTS} SELECT date_trunc('month', f.first_visit) AS cohort, "
        "date_trunc('month', v.visit_date) AS month, count(DISTINCT v.patient_id), count(*), "
        "sum(v.amount) FROM firsts f JOIN patients_visit v ON v.patient_id = f.patient_id "
        "WHERE f.first_visit BETWEEN %(start)s AND %(end)s GROUP BY 1, 2"
    ],
}

FACTS = "FROM patients_retentionfact WHERE clinic_id = %(clinic)s"
IN_PERIOD = "first_visit BETWEEN %(start)s AND %(end)s"
CREATED = "created_at >= %(lo)s AND created_at < %(hi)s"
SILENT = f"{FACTS} AND stage <> 'churned' AND (last_active IS NULL OR last_active < %(cutoff)s)"

# The clinic-wide rows (tag_id IS NULL): the tag rows are for a tag filter.
DAYS = (
    "FROM patients_dailyfigure WHERE clinic_id = %(clinic)s AND tag_id IS NULL "
    "AND day BETWEEN %(start)s AND %(end)s"
)


def _sums(*counts):
    return ", ".join(f"coalesce(sum({c}), 0)" for c in counts)


# The funnel's counts, in the order of the funnel's summary floor's one row.
FUNNEL_COUNTS = [
    *(f"now_{s}" for s in STAGES),
    *(f"reached_{s}" for s in JOURNEY),
    *(f"pair_{a}" for a, _ in _PAIRS),
]

# Without a doctor filter the dashboard reads the daily rollups (these floors: the clinic-wide
# rows); the facts serve the top referrers and the at-risk list (and every figure when
# filtering by doctor).
SUMMARY_FLOORS = {
    "revisit": [f"SELECT {_sums('first', 'revisited_90')} {DAYS}"],
    "churn": [CHURN],
    "at_risk": [
        # The count from the rollups: silent before the cutoff, or never active.
        "SELECT coalesce(sum(never_active), 0) "
        "+ coalesce(sum(silent) FILTER (WHERE day < %(cutoff)s), 0) "
        "FROM patients_dailyfigure WHERE clinic_id = %(clinic)s AND tag_id IS NULL",
        # Never contacted first, then the longest silent: each half an index scan in order.
        "SELECT p.id, p.name, p.phone_masked, p.stage, p.last_visit_date, f.last_touch_at "
        f"FROM ((SELECT patient_id, last_touch_at {SILENT} AND last_touch_at IS NULL "
        "ORDER BY patient_id LIMIT 20) UNION ALL "
        f"(SELECT patient_id, last_touch_at {SILENT} AND last_touch_at IS NOT NULL "
        "ORDER BY last_touch_at, patient_id LIMIT 20)) f "
        "JOIN patients_patient p ON p.id = f.patient_id "
        "ORDER BY f.last_touch_at ASC NULLS FIRST, f.patient_id LIMIT 20",
    ],
    "referral": [
        f"SELECT {_sums('created', 'referred')} {DAYS}",
        "SELECT r.id, r.name, n FROM (SELECT referred_by_id, count(*) AS n "
        f"{FACTS} AND {CREATED} AND referred_by_id IS NOT NULL GROUP BY referred_by_id) x "
        "JOIN patients_patient r ON r.id = x.referred_by_id ORDER BY n DESC, r.name LIMIT 5",
    ],
    "sources": [
        f"SELECT source, {_sums('created', 'first', 'revisited_90')} {DAYS} GROUP BY source"
    ],
    "satisfaction": [
        "SELECT sum(survey_sent), sum(survey_answered), sum(survey_scored), "
        f"sum(survey_score_centi) {DAYS}"
    ],
    "funnel": [f"SELECT {_sums(*FUNNEL_COUNTS)} {DAYS}"],
    "cohorts": [
        f"SELECT date_trunc('month', day), sum(first) {DAYS} AND first > 0 GROUP BY 1",
        "SELECT date_trunc('month', first_visit), month, sum(patients), sum(visits), sum(amount) "
        "FROM patients_cohortday WHERE clinic_id = %(clinic)s AND tag_id IS NULL "
        f"AND {IN_PERIOD} GROUP BY 1, 2",
    ],
}
