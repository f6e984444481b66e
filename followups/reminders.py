"""The due scan: what is due becomes outbox rows (wechat.services.delivery_enqueue_many, multi-row
INSERTs), in the same transaction that marks the tasks as announced. PostgreSQL says what
is due and what was sent; Redis only wakes the workers that send (once a batch).

- Staff: ONE digest app message per assignee per digest slot (an hour by default). WeCom
  caps app messages to one member at 30 a minute and silently drops the excess, so a
  message per task would lose reminders. A task is announced in one digest only.
- The team: one morning digest a day to the group robot.
- Patients: a re-exam reminder (or other message step) as a customer message, key
  ``followup:{task_id}:reminder``. No consent or churned: skipped, with the reason on the
  timeline. In quiet hours: deferred to the end of quiet hours (send_at), because a
  re-exam reminder should not be lost; the deferral is on the timeline too.
"""

import time
from collections import defaultdict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.models import Membership, Role
from followups import clock, step_links
from followups.models import Action, CarePlan, CarePlanTemplateVersion, FollowUpTask, ReminderState
from patients.choices import CaregiverRelation, CaregiverReminder, Stage, TouchKind
from patients.models import Patient, Touch, Ward
from patients.timeline import touch_build, worded
from wechat import audience
from wechat.composer import VARIABLES, composer_for
from wechat.models import Delivery, DeliveryChannel, WeComAccount
from wechat.services import delivery_enqueue, delivery_enqueue_many

# Tasks per digest transaction. A member gets one digest a slot, so tasks past the first
# batch wait for the next slot: a batch covers a large morning (100,000 due) whole.
BATCH = 100_000
REMINDER_BATCH = 5000  # patient reminders per transaction (outbox rows in multi-row INSERTs)
# The scan stops taking new batches after this long, well inside the task's time limit;
# the next minute's scan carries on (a catch-up after an outage takes a few runs).
SCAN_BUDGET_SECONDS = 50
DIGEST_LINES = 10


def _digest_body(tasks: list[tuple], count: int, names: dict) -> str:
    """tasks: (due_at, patient_id, title) of the first DIGEST_LINES, of `count` in all."""
    lines = [_("You have %(count)s follow-ups due:") % {"count": count}]
    for due_at, patient_id, title in tasks[:DIGEST_LINES]:
        lines.append(f"· {clock.local(due_at):%m-%d %H:%M} {names.get(patient_id, '')} {title}")
    if count > DIGEST_LINES:
        lines.append(_("… and %(count)s more.") % {"count": count - DIGEST_LINES})
    lines.append(_("Open CareLoop to complete them."))
    return "\n".join(lines)


def _claim_for_digest(now) -> list[tuple]:
    """Mark up to BATCH due, unannounced tasks as announced, in one statement, and return
    them. Concurrent scans skip each other's rows (SKIP LOCKED), and the outer condition
    is re-checked on a row another scan changed meanwhile, so a task is claimed once."""
    due = (
        FollowUpTask.objects.open()
        .due_before(now)
        .filter(staff_reminded_at__isnull=True)
        .select_for_update(skip_locked=True)
        .order_by("due_at", "id")
        .values("pk")[:BATCH]
    )
    sql, params = due.query.sql_with_params()
    table = connection.ops.quote_name(FollowUpTask._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET staff_reminded_at = %s "
            f"WHERE id IN ({sql}) AND staff_reminded_at IS NULL "
            "RETURNING id, clinic_id, assignee_id, role, due_at, patient_id, title",
            [FollowUpTask._meta.get_field("staff_reminded_at").get_db_prep_save(now, connection)]
            + list(params),
        )
        # due_at through clock.from_db: naive UTC on SQLite, aware on PostgreSQL.
        rows = [(*row[:4], clock.from_db(row[4]), *row[5:]) for row in cursor.fetchall()]
    return sorted(rows, key=lambda row: (row[4], row[0]))


def _nurse_ward_check(routed: list[tuple]):
    """A digest names patients, so a nurse is told only of her wards' patients (as her queue
    shows them, patients.selectors.patients_visible_to). Returns may_see(member, patient_id);
    the wards are read only for tasks routed to a nurse."""
    nurses = {m.pk for _task, members in routed for m in members if m.role == Role.NURSE}
    if not nurses:
        return lambda member, patient_id: True
    patient_ids = {task[5] for task, members in routed if any(m.pk in nurses for m in members)}
    ward_of = dict(Patient.objects.filter(pk__in=patient_ids).values_list("pk", "ward_id"))
    wards_of_nurse = defaultdict(set)
    for member_id, ward_id in Ward.nurses.through.objects.filter(
        membership_id__in=nurses
    ).values_list("membership_id", "ward_id"):
        wards_of_nurse[member_id].add(ward_id)

    def may_see(member, patient_id):
        return member.role != Role.NURSE or ward_of.get(patient_id) in wards_of_nurse[member.pk]

    return may_see


def staff_digests_enqueue(*, now=None) -> tuple[int, int]:
    """Announce due tasks not yet announced, one digest per assignee.
    Returns (digests made, tasks announced)."""
    now = now or timezone.now()
    if not clock.staff_hours(now):
        return 0, 0  # they go in the first digest of the next working day
    slot = clock.digest_slot(now)
    with transaction.atomic():
        tasks = _claim_for_digest(now)
        if not tasks:
            return 0, 0
        members = defaultdict(dict)  # clinic -> user_id -> Membership
        pools = defaultdict(lambda: defaultdict(list))  # clinic -> role -> [Membership]
        for member in Membership.objects.filter(clinic_id__in={t[1] for t in tasks}).exclude(
            wecom_userid=""
        ):
            members[member.clinic_id][member.user_id] = member
            pools[member.clinic_id][member.role].append(member)
        routed = []
        for task in tasks:
            _task_id, clinic_id, assignee_id, role = task[:4]
            if assignee_id:
                recipients = [members[clinic_id].get(assignee_id)]
            else:
                recipients = pools[clinic_id].get(role, [])
            routed.append((task, [m for m in recipients if m is not None]))
        may_see = _nurse_ward_check(routed)
        per_member = defaultdict(list)  # (clinic_id, user_id) -> task rows
        unreachable = []
        for task, recipients in routed:
            visible = [m for m in recipients if may_see(m, task[5])]
            if recipients and not visible:
                # No nurse may see the patient (no ward, or a ward without nurses): the
                # clinic's admins are told, as they are the ones who can place the patient.
                visible = pools[task[1]].get(Role.ADMIN, [])
            recipients = visible
            if not recipients:
                unreachable.append(task[0])  # no one to tell on WeCom: the queue page shows it
            for member in recipients:
                per_member[(task[1], member.user_id)].append(task)
        first_patients = {t[5] for rows in per_member.values() for t in rows[:DIGEST_LINES]}
        names = dict(Patient.objects.filter(pk__in=first_patients).values_list("pk", "name"))
        messages = []
        for (clinic_id, user_id), rows in per_member.items():
            messages.append(
                {
                    "clinic_id": clinic_id,
                    "key": f"digest:{user_id}:{slot}",
                    "channel": DeliveryChannel.APP_MESSAGE,
                    "recipient": members[clinic_id][user_id].wecom_userid,
                    "body": _digest_body([t[4:] for t in rows[:DIGEST_LINES]], len(rows), names),
                    "payload": {"task_ids": [t[0] for t in rows][:500]},
                }
            )
        made = delivery_enqueue_many(messages)
        announced = set(unreachable)
        for (clinic_id, user_id), rows in per_member.items():
            # Already a digest this slot: these tasks wait for the next slot's digest.
            if made[(clinic_id, f"digest:{user_id}:{slot}")][1]:
                announced.update(t[0] for t in rows)
        waiting = [t[0] for t in tasks if t[0] not in announced]
        for first in range(0, len(waiting), 10_000):
            FollowUpTask.objects.filter(pk__in=waiting[first : first + 10_000]).update(
                staff_reminded_at=None
            )
    return sum(created for _pk, created in made.values()), len(announced)


def _sender_for(task: FollowUpTask, members: dict) -> str:
    for user_id in (task.assignee_id, task.patient.assigned_assistant_id):
        member = members.get(user_id)
        if member and member.wecom_userid:
            return member.wecom_userid
    return ""


def _compose(task: FollowUpTask, composers: dict) -> str:
    """The task's text (filled when the plan started) through the composer at send: any
    variable left is filled or refused, the red lines checked again, the emergency notice
    appended. "" when refused; the reason is in composers["errors"]."""
    clinic_id = task.patient.clinic_id
    if clinic_id not in composers:
        composers[clinic_id] = composer_for(task.patient.clinic)
    patient = task.patient
    values = {"姓名": patient.name, "诊所": patient.clinic.name}
    try:
        step = composers.get("steps", {}).get(task.pk, {})
        if not (step_links.has_link(task.action) or step.get("article_id")):
            return composers[clinic_id].compose(task.message, patient=patient, values=values)
        # A survey step: the invitation and its tracked {链接}; a step with an article: the
        # patient's tracked link to it. Undone if the text is refused.
        with transaction.atomic():
            if step_links.has_link(task.action):
                values["链接"] = step_links.step_link_make(task, step)
            else:
                values["链接"] = step_links.step_article_make(task, step)
            text = task.message if "{链接}" in task.message else f"{task.message} {{链接}}"
            return composers[clinic_id].compose(text, patient=patient, values=values)
    except ValidationError as error:
        composers["errors"][task.pk] = " ".join(m for ms in error.message_dict.values() for m in ms)
        return ""


def _steps_of(tasks) -> dict[int, dict]:
    """{task id: the plan version's step it was made from}, for a batch in two queries
    (tasks without a plan or a step have none)."""
    planned = [t for t in tasks if t.plan_id and t.step_index is not None]
    if not planned:
        return {}
    versions = dict(
        CarePlan.objects.filter(pk__in={t.plan_id for t in planned}).values_list("pk", "version_id")
    )
    steps = dict(
        CarePlanTemplateVersion.objects.filter(pk__in=set(versions.values())).values_list(
            "pk", "steps"
        )
    )
    found = {}
    for task in planned:
        version_steps = steps.get(versions.get(task.plan_id)) or []
        if task.step_index < len(version_steps):
            found[task.pk] = version_steps[task.step_index]
    return found


def _followup_touch(task: FollowUpTask, summary: str, payload: dict) -> Touch:
    """A task's timeline entry, unsaved, so that a batch's entries go in one INSERT."""
    return touch_build(
        clinic_id=task.patient.clinic_id,
        patient_id=task.patient_id,
        kind=TouchKind.FOLLOWUP,
        summary=summary,
        payload=payload,
    )


# A re-exam reminder to a caregiver the patient chose for re-exam reminders: the patient's
# text after a line saying whose it is ({家属}: the caregiver's name).
CAREGIVER_PREFIX = "{家属}您好，以下是给您的家人{姓名}的复诊提醒：\n"


def _caregiver_reminders(task, caregivers, *, sender, send_at, composers):
    """The task's re-exam reminder to each of the patient's caregivers through the audience
    rule's verdict (caregiver_verdicts): (outbox messages, timeline entries naming each
    caregiver it went to, or was not sent to and why)."""
    patient = task.patient
    messages, touches = [], []
    for caregiver, exclusion in caregivers:
        if exclusion == audience.Exclusion.CAREGIVER_NO_CONSENT:
            continue  # not chosen for re-exam reminders
        reason = audience.exclusion_label(exclusion) if exclusion else ""
        if not reason and not sender:
            reason = audience.exclusion_label(audience.Exclusion.NO_SENDER)
        body = ""
        if not reason:
            try:
                body = composers[patient.clinic_id].compose(
                    CAREGIVER_PREFIX + task.message,
                    patient=patient,
                    values={
                        "姓名": patient.name,
                        "诊所": patient.clinic.name,
                        "家属": caregiver.name,
                    },
                    allowed=(*VARIABLES, "家属"),
                )
            except ValidationError as error:
                reason = " ".join(m for ms in error.message_dict.values() for m in ms)
        relation = CaregiverRelation(caregiver.relation).label
        if reason:
            touches.append(
                _followup_touch(
                    task,
                    worded(
                        gettext_noop(
                            "Reminder not sent to caregiver %(name)s (%(relation)s)"
                            " (%(reason)s): %(task)s"
                        ),
                        name=caregiver.name,
                        relation=relation,
                        reason=reason,
                        task=task.title,
                    ),
                    {
                        "task_id": task.pk,
                        "event": "caregiver_reminder_skipped",
                        "caregiver_id": caregiver.pk,
                        "reason": exclusion or "text_refused",
                    },
                )
            )
            continue
        key = f"followup:{task.pk}:reminder:caregiver:{caregiver.pk}"
        messages.append(
            {
                "clinic_id": task.clinic_id,
                "key": key,
                "channel": DeliveryChannel.CUSTOMER_MESSAGE,
                "recipient": caregiver.external_userid,
                "sender": sender,
                "body": body,
                "patient": patient,
                "payload": {
                    "task_id": task.pk,
                    "purpose": audience.Purpose.CARE,
                    "caregiver_id": caregiver.pk,
                    "reminder": CaregiverReminder.RE_EXAM,
                },
                "send_at": send_at,
            }
        )
        touches.append(
            _followup_touch(
                task,
                worded(
                    gettext_noop("Reminder queued for caregiver %(name)s (%(relation)s): %(task)s"),
                    name=caregiver.name,
                    relation=relation,
                    task=task.title,
                ),
                {
                    "task_id": task.pk,
                    "event": "caregiver_reminder_enqueued",
                    "caregiver_id": caregiver.pk,
                    "key": key,
                },
            )
        )
    return messages, touches


def patient_reminders_enqueue(*, now=None) -> dict:
    """Due patient reminders into the outbox (or skipped, or deferred past quiet hours),
    a batch at a time in set-based statements: multi-row INSERTs of outbox rows, one UPDATE of
    the tasks, one INSERT of timeline entries, one wake-up of the senders."""
    now = now or timezone.now()
    counts = {"enqueued": 0, "deferred": 0, "skipped": 0}
    with transaction.atomic():
        tasks = list(
            FollowUpTask.objects.open()
            .filter(reminder_state=ReminderState.PENDING, due_at__lte=now)
            .select_related("patient", "patient__clinic")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("due_at", "id")[:REMINDER_BATCH]
        )
        if not tasks:
            return counts
        user_ids = {t.assignee_id for t in tasks} | {t.patient.assigned_assistant_id for t in tasks}
        members = {m.user_id: m for m in Membership.objects.filter(user_id__in=user_ids - {None})}
        quiet = clock.in_quiet_hours(now)
        send_at = clock.quiet_hours_end(now) if quiet else None
        skipped, messages, touches = [], [], []
        # The audience rule for care messages (wechat.audience), once for the batch.
        composers = {"errors": {}, "steps": _steps_of(tasks)}
        patient_ids = {t.patient_id for t in tasks}
        verdicts = audience.audience_verdicts(patient_ids, purpose=audience.Purpose.CARE)
        contacts = audience.contacts_of(patient_ids)
        caregivers = audience.caregiver_verdicts(
            {t.patient for t in tasks if t.action == Action.RE_EXAM},
            reminder=CaregiverReminder.RE_EXAM,
        )
        caregiver_messages = []
        for task in tasks:
            patient = task.patient
            rule_sender, exclusion = verdicts.get(patient.pk, ("", ""))
            sender = _sender_for(task, members)
            if contacts.get(patient.pk, {}).get(sender) is False:
                sender = rule_sender  # no longer a contact of the patient: the rule's sender
            if task.action == Action.RE_EXAM and patient.pk in caregivers:
                if patient.clinic_id not in composers:
                    composers[patient.clinic_id] = composer_for(patient.clinic)
                made, noted = _caregiver_reminders(
                    task,
                    caregivers[patient.pk],
                    sender=sender or rule_sender,
                    send_at=send_at,
                    composers=composers,
                )
                caregiver_messages += made
                touches += noted
            if exclusion == audience.Exclusion.CONTACT_LOST:
                reason = audience.exclusion_label(exclusion)
            elif not patient.consent_to_contact:
                reason = _("the patient withdrew consent")
            elif patient.stage == Stage.CHURNED:
                reason = _("the patient has churned")
            elif not patient.external_userid:
                reason = _("the patient is not a WeCom contact")
            elif not (sender := sender or rule_sender):
                reason = _("nobody with a WeCom account can send it")
            elif not (body := _compose(task, composers)):
                reason = composers["errors"][task.pk]
            else:
                messages.append(
                    {
                        "clinic_id": task.clinic_id,
                        "key": f"followup:{task.pk}:reminder",
                        "channel": DeliveryChannel.CUSTOMER_MESSAGE,
                        "recipient": patient.external_userid,
                        "sender": sender,
                        "body": body,
                        "patient": patient,
                        "payload": {"task_id": task.pk, "purpose": audience.Purpose.CARE},
                        "send_at": send_at,
                    }
                )
                if quiet:
                    msgid = gettext_noop(
                        "Reminder held during quiet hours, to be sent at %(at)s: %(task)s"
                    )
                    at = f"{clock.local(send_at):%m-%d %H:%M}"
                    touches.append(
                        _followup_touch(
                            task,
                            worded(msgid, at=at, task=task.title),
                            {"task_id": task.pk, "event": "reminder_deferred"},
                        )
                    )
                continue
            skipped.append(task.pk)
            touches.append(
                _followup_touch(
                    task,
                    worded(
                        gettext_noop("Reminder not sent (%(reason)s): %(task)s"),
                        reason=reason,
                        task=task.title,
                    ),
                    {"task_id": task.pk, "event": "reminder_skipped", "reason": reason},
                )
            )
        enqueued = [int(m["key"].split(":")[1]) for m in messages]
        delivery_enqueue_many(messages + caregiver_messages)
        # Each task points at its outbox row, found by its key through the unique index.
        FollowUpTask.objects.filter(pk__in=enqueued).update(
            reminder_state=ReminderState.ENQUEUED,
            reminder_delivery_id=Subquery(
                Delivery.objects.filter(
                    clinic_id=OuterRef("clinic_id"),
                    idempotency_key=Concat(
                        Value("followup:"), Cast(OuterRef("pk"), CharField()), Value(":reminder")
                    ),
                ).values("pk")[:1]
            ),
        )
        FollowUpTask.objects.filter(pk__in=skipped).update(
            reminder_state=ReminderState.SKIPPED, reminder_result="skipped"
        )
        Touch.objects.bulk_create(touches)
        counts["deferred" if quiet else "enqueued"] = len(enqueued)
        counts["skipped"] = len(skipped)
        if caregiver_messages:
            counts["caregivers"] = len(caregiver_messages)
    return counts


def team_digests_enqueue(*, now=None) -> int:
    """The morning digest to each clinic's group robot, once a clinic day (its key)."""
    now = now or timezone.now()
    start = clock.at(clock.local_today(now), clock.hhmm(settings.FOLLOWUPS_MORNING_DIGEST_AT))
    if now < start or not clock.staff_hours(now):
        return 0
    today = clock.local_today(now)
    day_start, day_end = clock.day_bounds(today)
    made = 0
    for account in WeComAccount.objects.exclude(robot_key_encrypted="").select_related("clinic"):
        clinic = account.clinic
        tasks = FollowUpTask.objects.filter(clinic=clinic).open()
        due_today = tasks.due_between(day_start, day_end).count()
        overdue = tasks.overdue(now).filter(due_at__lt=day_start).count()
        if not (due_today or overdue):
            continue
        with transaction.atomic():
            _delivery, created = delivery_enqueue(
                clinic=clinic,
                key=f"team-digest:{clinic.pk}:{today.isoformat()}",
                channel=DeliveryChannel.ROBOT,
                recipient="team",
                body=_(
                    "Good morning. Follow-ups today: %(today)s; overdue from earlier days: %(overdue)s."
                )
                % {"today": due_today, "overdue": overdue},
            )
        made += created
    return made


def due_scan(*, now=None) -> dict:
    """The beat job's work, in order: triggers, then staff, team and patient reminders."""
    from followups.appointment_reminders import appointment_reminders_enqueue
    from followups.triggers import triggers_scan

    now = now or timezone.now()
    deadline = time.monotonic() + SCAN_BUDGET_SECONDS
    with translation.override(settings.LANGUAGE_CODE):
        triggers = triggers_scan()
        digests = 0
        while time.monotonic() < deadline:
            made, announced = staff_digests_enqueue(now=now)
            digests += made
            if not announced:
                break
        patients = {"enqueued": 0, "deferred": 0, "skipped": 0}
        while time.monotonic() < deadline:
            batch = patient_reminders_enqueue(now=now)
            for key, value in batch.items():
                patients[key] = patients.get(key, 0) + value
            if not any(batch.values()):
                break
        team = team_digests_enqueue(now=now)
        appointments = appointment_reminders_enqueue(now=now)
    return {
        "triggers": triggers,
        "digests": digests,
        "team": team,
        **patients,
        "appointment_reminders": appointments["enqueued"],
    }
