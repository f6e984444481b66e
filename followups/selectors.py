"""Reads: the assistant's queue, the nurse's checklist, and the figures of the dashboard."""

from datetime import date, datetime, timedelta

from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Prefetch,
    Q,
    QuerySet,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone

from followups import clock
from followups.models import Action, ChecklistTick, FollowUpTask, Outcome, TaskStatus
from patients.models import TaggedPatient, TagGroup
from patients.selectors import patients_visible_to

UPCOMING_DAYS = 7


def patient_has_open_task(patient_ref) -> Exists:
    """The patient condition `open_followups` (Patient.objects.with_open_followups, the list's
    has_open_followups filter, campaign segments): an EXISTS, not a join, so a patient with many
    open tasks is one row and needs no DISTINCT; the partial index followuptask_patient_open
    (patient_id WHERE status='open') serves it."""
    return Exists(FollowUpTask.objects.filter(patient=patient_ref, status=TaskStatus.OPEN))


def tasks_for_clinic(clinic) -> QuerySet:
    return FollowUpTask.objects.filter(clinic=clinic).select_related(
        "patient", "assignee", "plan__template"
    )


def tasks_visible_to(membership) -> QuerySet:
    """The clinic's tasks of the patients this staff member may see (a nurse: her wards')."""
    return tasks_for_clinic(membership.clinic_id).filter(
        patient__in=patients_visible_to(membership)
    )


def task_queue(*, membership, now: datetime | None = None, view: str = "mine") -> QuerySet:
    """mine (all open), today, overdue, upcoming: the person's tasks, most urgent first.

    Overdue = open and past the end of its window; today = due today in clinic time and not
    overdue; upcoming = the next seven days."""
    now = now or timezone.now()
    mine = tasks_visible_to(membership).open().for_assignee(membership.user).urgent_first()
    start, end = clock.day_bounds(clock.local_today(now))
    if view == "overdue":
        return mine.filter(window_end__lt=now)
    if view == "today":
        return mine.filter(due_at__lt=end, window_end__gte=now)
    if view == "upcoming":
        return mine.filter(due_at__gte=end, due_at__lt=end + timedelta(days=UPCOMING_DAYS))
    return mine


def queue_sections(*, membership, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    return {
        view: list(task_queue(membership=membership, now=now, view=view)[:200])
        for view in ("overdue", "today", "upcoming")
    }


def checklist_groups(*, membership, day: date | None = None) -> list[tuple[str, list]]:
    """The day's SOP items for the nurse's pool and own items, open and ticked, of the
    patients she may see (her wards'), grouped by the patient's disease group tags."""
    day = day or clock.local_today()
    start, end = clock.day_bounds(day)
    items = (
        tasks_visible_to(membership)
        .for_assignee(membership.user)
        .filter(action=Action.CHECKLIST, due_at__lt=end)
        .select_related("plan__version")
        .exclude(status=TaskStatus.CANCELLED)
        .exclude(status=TaskStatus.DONE, done_at__lt=start)
        .prefetch_related(
            Prefetch(
                "ticks",
                queryset=ChecklistTick.objects.standing()
                .select_related("by")
                .prefetch_related("by__memberships"),
            ),
        )
        .order_by("patient__name", "due_at", "id")
    )
    items = list(items[:500])
    group_of = {}
    for tp in TaggedPatient.objects.filter(
        content_object_id__in={i.patient_id for i in items},
        tag__group__kind__in=[TagGroup.Kind.DISEASE],
    ).select_related("tag"):
        group_of.setdefault(tp.content_object_id, []).append(tp.tag.name)
    groups: dict[str, list] = {}
    for item in items:
        for name in sorted(group_of.get(item.patient_id, [""]))[:1]:
            groups.setdefault(name, []).append(item)
    return sorted(groups.items(), key=lambda kv: (kv[0] == "", kv[0]))


def followup_figures(*, clinic, start: datetime, end: datetime, doctor=None) -> dict:
    """Completion and timeliness of the tasks due in [start, end).

    - due: tasks due in the period, cancelled ones left out (a stopped plan is not a miss);
    - done: closed with the patient reached (any outcome but 未联系上; a 约定回电 is reached);
    - completion: done / due;
    - on_time: done within their window (done_at <= window_end) / due;
    - unreachable: 漏访, every call attempt unanswered; unreachable_share: unreachable / due;
    - median_delay_hours: median of (done_at - due_at) over done tasks, in hours, 0 when a
      task was done before it was due.
    Shares are None when nothing was due. `doctor` narrows to that doctor's patients.
    Two queries whatever the number of tasks: the counts, then the middle delay or two.
    """
    tasks = _due_tasks(clinic, start, end)
    if doctor is not None:
        # The patient's clinic too, though implied: it lets the doctor's patients come from
        # patient_doctor_stage_created alone (clinic, doctor, … INCLUDE id), not the table.
        tasks = tasks.filter(patient__clinic=clinic, patient__assigned_doctor=doctor)
    counts = tasks.aggregate(**_COUNTS)
    return _figures(counts, _median_hours(tasks.filter(_REACHED), counts["done"]))


def followup_figures_by_doctor(*, clinic, start: datetime, end: datetime) -> list[dict]:
    """followup_figures for every doctor of the clinic, in two grouped queries."""
    from crm.models import Membership, Role

    tasks = _due_tasks(clinic, start, end).filter(patient__assigned_doctor__isnull=False)
    by_doctor = "patient__assigned_doctor"
    counts = {
        row.pop(by_doctor): row
        for row in tasks.values(by_doctor).order_by(by_doctor).annotate(**_COUNTS)
    }
    medians = _median_hours_by(tasks.filter(_REACHED), by_doctor)
    empty = {"due": 0, "done": 0, "on_time": 0, "unreachable": 0}
    rows = []
    for member in Membership.objects.filter(clinic=clinic, role=Role.DOCTOR).select_related("user"):
        figures = _figures(counts.get(member.user_id, empty), medians.get(member.user_id))
        rows.append({"doctor_id": member.user_id, "doctor": member.name, **figures})
    return rows


# Done counts reached patients only: a task closed as 未联系上 (before attempts were retried,
# an old task could be done with outcome not_reached) is not done, it is unreachable (漏访).
_REACHED = Q(status=TaskStatus.DONE) & ~Q(outcome=Outcome.NOT_REACHED)
_UNREACHABLE = Q(status=TaskStatus.UNREACHABLE) | Q(
    status=TaskStatus.DONE, outcome=Outcome.NOT_REACHED
)
_COUNTS = {
    "due": Count("pk"),
    "done": Count("pk", filter=_REACHED),
    "on_time": Count("pk", filter=_REACHED & Q(done_at__lte=F("window_end"))),
    "unreachable": Count("pk", filter=_UNREACHABLE),
}
# done_at - due_at: an interval on PostgreSQL, microseconds on SQLite; a timedelta either way.
_DELAY = ExpressionWrapper(F("done_at") - F("due_at"), output_field=DurationField())


def _due_tasks(clinic, start, end) -> QuerySet:
    return FollowUpTask.objects.filter(clinic=clinic, due_at__gte=start, due_at__lt=end).exclude(
        status=TaskStatus.CANCELLED
    )


def _figures(counts: dict, median_hours: float | None) -> dict:
    due, done, on_time = counts["due"], counts["done"], counts["on_time"]
    unreachable = counts["unreachable"]
    return {
        "due": due,
        "done": done,
        "on_time": on_time,
        "unreachable": unreachable,
        "completion": done / due if due else None,
        "timeliness": on_time / due if due else None,
        "unreachable_share": unreachable / due if due else None,
        "median_delay_hours": median_hours,
    }


def _hours(middle: list[timedelta]) -> float | None:
    """The mean of the middle delay(s), early ones counted as 0. Clamping after sorting is
    the same as sorting clamped delays: max(d, 0) keeps the order."""
    if not middle:
        return None
    seconds = [max(d.total_seconds(), 0) for d in middle]
    return round(sum(seconds) / len(seconds) / 3600, 2)


def _median_hours(done: QuerySet, n: int) -> float | None:
    """Portable median (PostgreSQL and SQLite): sort by delay, read the one or two middle rows
    with OFFSET instead of fetching every delay."""
    if not n:
        return None
    # No tie-break on pk: tied rows have the same delay, and the sort is the query's cost.
    middle = done.annotate(delay=_DELAY).order_by("delay").values_list("delay", flat=True)
    return _hours(list(middle[(n - 1) // 2 : n // 2 + 1]))


def _median_hours_by(done: QuerySet, key: str) -> dict:
    """The median delay per value of `key` in one query: each group's rows ranked by delay
    (window functions, PostgreSQL and SQLite >= 3.25), keeping the middle rank or two."""
    ranked = done.annotate(
        delay=_DELAY,
        rank=Window(RowNumber(), partition_by=[F(key)], order_by=[_DELAY.asc()]),
        n=Window(Count("pk"), partition_by=[F(key)]),
    ).filter(rank__gte=(F("n") + 1) / 2, rank__lte=F("n") / 2 + 1)
    middles: dict = {}
    for group, delay in ranked.values_list(key, "delay"):
        middles.setdefault(group, []).append(delay)
    return {group: _hours(middle) for group, middle in middles.items()}
