-- The due scan's floor: the same writes as followups.reminders for the 09:00 morning
-- batch (100,000 due tasks), as hand-written set-based SQL. Run by
-- bench/followups_bench.py --explain inside a transaction that is rolled back;
-- %(now)s is the scan's time, %(clinic)s the bench clinic.

-- 1. Staff digests: claim every due, unannounced task and make one digest per assignee.
EXPLAIN (ANALYZE, BUFFERS)
WITH claimed AS (
    UPDATE followups_followuptask SET staff_reminded_at = %(now)s
    WHERE status = 'open' AND due_at < %(now)s AND staff_reminded_at IS NULL
    RETURNING id, clinic_id, assignee_id
), per_member AS (
    SELECT c.clinic_id, c.assignee_id, m.wecom_userid, count(*) AS n
    FROM claimed c
    JOIN crm_membership m ON m.user_id = c.assignee_id AND m.clinic_id = c.clinic_id
    WHERE m.wecom_userid <> ''
    GROUP BY 1, 2, 3
)
INSERT INTO wechat_delivery (clinic_id, idempotency_key, channel, recipient, sender, body,
    payload, status, attempts, next_attempt_at, last_error, provider_message_id,
    possible_duplicate, created_at)
SELECT clinic_id, 'digest:' || assignee_id || ':floor', 'app_message', wecom_userid, '',
    'You have ' || n || ' follow-ups due', '{}', 'pending', 0, %(now)s, '', '', false, %(now)s
FROM per_member
ON CONFLICT (clinic_id, idempotency_key) DO NOTHING;

-- 2. Patient reminders: every due re-exam reminder of a consenting WeCom contact into
--    the outbox, and the task pointed at its outbox row.
EXPLAIN (ANALYZE, BUFFERS)
WITH due AS (
    SELECT t.id, t.clinic_id, t.patient_id, t.message, p.external_userid, m.wecom_userid
    FROM followups_followuptask t
    JOIN patients_patient p ON p.id = t.patient_id
    JOIN crm_membership m ON m.user_id = t.assignee_id AND m.clinic_id = t.clinic_id
    WHERE t.status = 'open' AND t.reminder_state = 'pending' AND t.due_at <= %(now)s
      AND p.consent_to_contact AND p.stage <> 'churned' AND p.external_userid <> ''
      AND m.wecom_userid <> ''
    FOR UPDATE OF t SKIP LOCKED
), inserted AS (
    INSERT INTO wechat_delivery (clinic_id, idempotency_key, channel, recipient, sender,
        patient_id, body, payload, status, attempts, next_attempt_at, last_error,
        provider_message_id, possible_duplicate, created_at)
    SELECT clinic_id, 'followup:' || id || ':reminder', 'customer_message', external_userid,
        wecom_userid, patient_id, message, jsonb_build_object('task_id', id), 'pending', 0,
        %(now)s, '', '', false, %(now)s
    FROM due
    ON CONFLICT (clinic_id, idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
)
UPDATE followups_followuptask t
SET reminder_state = 'enqueued', reminder_delivery_id = inserted.id
FROM inserted
WHERE t.id = split_part(inserted.idempotency_key, ':', 2)::bigint;
