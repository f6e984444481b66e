"""The floor of each read bench/http_load.py measures: the same result by hand-written SQL in
psql, EXPLAIN (ANALYZE, BUFFERS), the fastest of five runs (planning + execution: a floor, and
the least disturbed by other work on a shared machine). Plans go to
bench/explain/reads_<label>_<request>.txt; a Markdown table of the figures is printed.

    .venv/bin/python bench/read_floors.py --database-url postgres://postgres@127.0.0.1:5432/careloop_bench --label 1m

The parameters are those of the HTTP run: the load clinic, its first disease tag, the doctor of
the newest patient, phone tail 1234, the first patient's long timeline (page 1 and the 100th
page by keyset, as the API's cursor does). Session and permission queries are not in the floor.
"""

import argparse
import re
import subprocess
from pathlib import Path

EXPLAIN_DIR = Path(__file__).resolve().parent / "explain"
PAGE = 25  # the list's page size (REST_FRAMEWORK PAGE_SIZE)
TIMELINE_PAGE = 30

# A list page: its rows with their tags in group order, as the serializer returns them.
LIST_PAGE = """
SELECT p.id, p.name, p.gender, p.birth_date, p.phone_masked, p.external_userid, p.source,
       p.source_detail, p.referred_by_id, p.assigned_doctor_id, p.assigned_assistant_id,
       p.stage, p.stage_changed_at, p.consent_to_contact, p.last_visit_date, p.notes,
       p.created_at, p.updated_at,
       (SELECT json_agg(json_build_object('id', t.id, 'name', t.name, 'group', g.id,
                                          'group_name', g.name) ORDER BY g.position, t.name)
          FROM patients_taggedpatient tp JOIN patients_patienttag t ON t.id = tp.tag_id
          JOIN patients_taggroup g ON g.id = t.group_id WHERE tp.content_object_id = p.id) AS tags
FROM patients_patient p
WHERE {where}
ORDER BY p.created_at DESC, p.id DESC
LIMIT {limit}
"""
TIMELINE = """
SELECT t.id, t.kind, t.channel, t.actor_id, u.username, u.first_name, u.last_name, t.summary,
       t.payload, t.occurred_at
FROM patients_touch t LEFT JOIN auth_user u ON u.id = t.actor_id
WHERE t.patient_id = {heavy} {after}
ORDER BY t.occurred_at DESC, t.id DESC
LIMIT {limit}
"""

# The patient page's follow-ups panel: the patient's open tasks with their plan's name, and
# the assignees' names in the clinic (one query per page, as the serializer does).
OPEN_TASKS = """
SELECT t.id, t.patient_id, p.name, t.plan_id, pt.name, t.title, t.action, t.assignee_id,
       t.role, t.due_at, t.window_end, t.status, t.outcome, t.notes, t.done_at, t.done_by_id
FROM followups_followuptask t JOIN patients_patient p ON p.id = t.patient_id
LEFT JOIN followups_careplan pl ON pl.id = t.plan_id
LEFT JOIN followups_careplantemplate pt ON pt.id = pl.template_id
WHERE {where}
ORDER BY t.due_at, t.id
LIMIT 20
"""
ACTIVE_PLANS = """
SELECT pl.id, pl.patient_id, pl.template_id, pt.name, v.number, pl.anchor_date, pl.status,
       pl.stop_reason, pl.created_at
FROM followups_careplan pl JOIN followups_careplantemplate pt ON pt.id = pl.template_id
JOIN followups_careplantemplateversion v ON v.id = pl.version_id
WHERE {where}
ORDER BY pl.created_at DESC, pl.id DESC
LIMIT 20
"""
# The message form's check: consent, stage, WeCom contact, a sender (the assistant's, else
# the doctor's WeCom userid) and the customer messages of today and the last seven days.
MESSAGE_CHECK = """
SELECT p.consent_to_contact, p.stage, p.external_userid,
       COALESCE((SELECT m.wecom_userid FROM crm_membership m WHERE m.user_id = p.assigned_assistant_id
                   AND m.clinic_id = p.clinic_id AND m.wecom_userid <> '' LIMIT 1),
                (SELECT m.wecom_userid FROM crm_membership m WHERE m.user_id = p.assigned_doctor_id
                   AND m.clinic_id = p.clinic_id AND m.wecom_userid <> '' LIMIT 1), '') AS sender,
       (SELECT COUNT(*) FROM wechat_delivery d WHERE d.patient_id = p.id
          AND d.channel = 'customer_message' AND d.status IN ('pending', 'sending', 'sent', 'failed')
          AND COALESCE(d.sent_at, d.next_attempt_at) >= date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'
          AND COALESCE(d.sent_at, d.next_attempt_at) < now() + interval '1 day') AS today,
       (SELECT COUNT(*) FROM wechat_delivery d WHERE d.patient_id = p.id
          AND d.channel = 'customer_message' AND d.status IN ('pending', 'sending', 'sent', 'failed')
          AND COALESCE(d.sent_at, d.next_attempt_at) >= now() - interval '7 days'
          AND COALESCE(d.sent_at, d.next_attempt_at) < now() + interval '1 day') AS week
FROM patients_patient p WHERE p.clinic_id = {clinic} AND p.id = {patient}
"""


def psql(url, sql):
    result = subprocess.run(
        ["psql", url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def explain(url, sql):
    """The plan text and its planning + execution ms (the fastest of five runs)."""
    runs = []
    for _ in range(5):
        plan = psql(url, f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        planning = float(re.search(r"Planning Time: ([\d.]+)", plan).group(1))
        execution = float(re.search(r"Execution Time: ([\d.]+)", plan).group(1))
        runs.append((planning + execution, plan))
    ms, plan = min(runs, key=lambda run: run[0])
    return plan, ms


def floors(url):
    clinic = psql(url, "SELECT id FROM crm_clinic WHERE slug = 'load'")
    tag = psql(
        url,
        "SELECT t.id FROM patients_patienttag t JOIN patients_taggroup g ON g.id = t.group_id "
        f"WHERE g.clinic_id = {clinic} AND g.kind = 'disease' ORDER BY g.position, t.name LIMIT 1",
    )
    doctor, patient = psql(
        url,
        f"SELECT assigned_doctor_id, id FROM patients_patient WHERE clinic_id = {clinic} "
        "ORDER BY created_at DESC, id DESC LIMIT 1",
    ).split("|")
    heavy = psql(url, f"SELECT MIN(id) FROM patients_patient WHERE clinic_id = {clinic}")
    position = psql(
        url,
        f"SELECT occurred_at FROM patients_touch WHERE patient_id = {heavy} "
        f"ORDER BY occurred_at DESC, id DESC OFFSET {99 * TIMELINE_PAGE - 1} LIMIT 1",
    )
    three = (
        f"p.clinic_id = {clinic} AND p.stage = 'maintained' AND p.assigned_doctor_id = {doctor} "
        f"AND p.tag_ids @> '[{tag}]'"  # the patient's tag ids, GIN-indexed (0007)
    )
    tail = f"p.clinic_id = {clinic} AND p.phone_last4 = '1234'"
    open_tasks = f"t.clinic_id = {clinic} AND t.patient_id = {patient} AND t.status = 'open'"
    active_plans = f"pl.clinic_id = {clinic} AND pl.patient_id = {patient} AND pl.status = 'active'"
    return {
        "list: 3 filters": [
            f"SELECT COUNT(*) FROM patients_patient p WHERE {three}",
            LIST_PAGE.format(where=three, limit=PAGE),
        ],
        "list: phone tail": [
            f"SELECT COUNT(*) FROM patients_patient p WHERE {tail}",
            LIST_PAGE.format(where=tail, limit=PAGE),
        ],
        "patient": [
            LIST_PAGE.format(where=f"p.clinic_id = {clinic} AND p.id = {patient}", limit=1)
        ],
        "patient: open follow-ups": [
            f"SELECT COUNT(*) FROM followups_followuptask t WHERE {open_tasks}",
            OPEN_TASKS.format(where=open_tasks),
            "SELECT m.user_id, m.display_name FROM crm_membership m "
            f"WHERE m.clinic_id = {clinic} AND m.user_id IN (SELECT t.assignee_id "
            f"FROM followups_followuptask t WHERE {open_tasks} ORDER BY t.due_at, t.id LIMIT 20)",
        ],
        "patient: care plans": [
            f"SELECT COUNT(*) FROM followups_careplan pl WHERE {active_plans}",
            ACTIVE_PLANS.format(where=active_plans),
        ],
        "patient: message check": [MESSAGE_CHECK.format(clinic=clinic, patient=patient)],
        "timeline: page 1": [TIMELINE.format(heavy=heavy, after="", limit=TIMELINE_PAGE + 1)],
        "timeline: page 100": [
            TIMELINE.format(
                heavy=heavy, after=f"AND t.occurred_at < '{position}'", limit=TIMELINE_PAGE + 1
            )
        ],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--label", required=True, help="the dataset, e.g. 10k, 100k, 1m")
    args = parser.parse_args()
    EXPLAIN_DIR.mkdir(exist_ok=True)
    print("| request | floor ms | statements |")
    print("|---|---|---|")
    for name, statements in floors(args.database_url).items():
        total, texts = 0.0, []
        for sql in statements:
            plan, ms = explain(args.database_url, sql)
            total += ms
            texts.append(
                f"{sql.strip()}\n\n{plan}\n\n-- planning + execution, fastest of 5: {ms:.2f} ms"
            )
        slug = re.sub(r"[^a-z0-9]+", "_", name).strip("_")
        (EXPLAIN_DIR / f"reads_{args.label}_{slug}.txt").write_text(
            f"-- {name} at {args.label}: floor {total:.2f} ms\n\n" + "\n\n".join(texts) + "\n"
        )
        print(f"| {name} | {total:.2f} | {len(statements)} |")


if __name__ == "__main__":
    main()
