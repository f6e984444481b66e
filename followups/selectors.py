"""Reads: the assistant's queue, the nurse's checklist, and the figures of the dashboard."""

from datetime import date, datetime, timedelta
from statistics import median

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from followups import clock
from followups.models import Action, ChecklistTick, FollowUpTask, TaskStatus
from patients.models import TaggedPatient, TagGroup
from patients.selectors import patients_visible_to

UPCOMING_DAYS = 7


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
        .exclude(status=TaskStatus.CANCELLED)
        .exclude(status=TaskStatus.DONE, done_at__lt=start)
        .prefetch_related(
            Prefetch("ticks", queryset=ChecklistTick.objects.select_related("by")),
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
    - completion: done / due;
    - on_time: done within their window (done_at <= window_end) / due;
    - median_delay_hours: median of (done_at - due_at) over done tasks, in hours, 0 when a
      task was done before it was due.
    Shares are None when nothing was due. `doctor` narrows to that doctor's patients.
    """
    tasks = (
        FollowUpTask.objects.filter(clinic=clinic, due_at__gte=start, due_at__lt=end)
        .exclude(status=TaskStatus.CANCELLED)
        .only("status", "due_at", "window_end", "done_at")
    )
    if doctor is not None:
        tasks = tasks.filter(patient__assigned_doctor=doctor)
    due = done = on_time = 0
    delays = []
    for task in tasks.iterator():
        due += 1
        if task.status == TaskStatus.DONE:
            done += 1
            on_time += task.done_at <= task.window_end
            delays.append(max((task.done_at - task.due_at).total_seconds(), 0) / 3600)
    return {
        "due": due,
        "done": done,
        "on_time": on_time,
        "completion": done / due if due else None,
        "timeliness": on_time / due if due else None,
        "median_delay_hours": round(median(delays), 2) if delays else None,
    }


def followup_figures_by_doctor(*, clinic, start: datetime, end: datetime) -> list[dict]:
    from crm.models import Membership, Role

    rows = []
    for member in Membership.objects.filter(clinic=clinic, role=Role.DOCTOR).select_related("user"):
        figures = followup_figures(clinic=clinic, start=start, end=end, doctor=member.user)
        rows.append({"doctor_id": member.user_id, "doctor": member.name, **figures})
    return rows
