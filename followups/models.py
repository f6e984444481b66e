"""Care plan templates (SOPs, versioned), plans, follow-up tasks and checklist ticks.

A template's steps are frozen in a version; a plan points at the version it started
from, and its tasks are created once from that version. Editing a template writes a
new version, so it never rewrites tasks already created.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import Clinic, Role


class Trigger(models.TextChoices):
    TAG_ADDED = "tag_added", _("Tag added")
    STAGE_ENTERED = "stage_entered", _("Stage entered")
    VISIT_RECORDED = "visit_recorded", _("Visit recorded")
    MANUAL = "manual", _("Started by hand")


class Anchor(models.TextChoices):
    """What the plan's anchor date means; step offsets count from it."""

    TRIGGER = "trigger", _("Day of the trigger (tag added, stage entered, visit)")
    VISIT = "visit", _("Visit date")
    SURGERY = "surgery", _("Surgery date")
    DISCHARGE = "discharge", _("Discharge date")
    DATE = "date", _("A date entered when the plan starts")
    # A date field of the patient (手术日期): the plan starts on the patient's date, and a
    # change of the date moves the plan's open tasks (followups/anchors.py).
    FIELD = "field", _("A date field of the patient")


class Action(models.TextChoices):
    CALL = "call", _("Phone call")
    MESSAGE = "message", _("Message to the patient")
    RE_EXAM = "re_exam", _("Re-exam reminder")
    SURVEY = "survey", _("Satisfaction survey")
    CHECKLIST = "checklist", _("Checklist item")
    START_PLAN = "start_plan", _("Start another plan")


# Actions whose step text goes to the patient (WeCom customer message) when the task is due.
PATIENT_ACTIONS = {Action.MESSAGE, Action.RE_EXAM, Action.SURVEY}


class CarePlanTemplate(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="care_templates")
    name = models.CharField(_("name"), max_length=100)
    trigger = models.CharField(
        _("trigger"), max_length=20, choices=Trigger.choices, default=Trigger.MANUAL
    )
    trigger_tag = models.ForeignKey(
        "patients.PatientTag",
        verbose_name=_("trigger tag"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    trigger_stage = models.CharField(_("trigger stage"), max_length=20, blank=True)
    trigger_visit_kind = models.CharField(_("trigger visit kind"), max_length=20, blank=True)
    anchor = models.CharField(
        _("anchor"), max_length=20, choices=Anchor.choices, default=Anchor.TRIGGER
    )
    # With anchor "field": the patient's date field the steps count from ("D+1 after 手术日期").
    anchor_field = models.ForeignKey(
        "patients.PatientField",
        verbose_name=_("anchor field"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    is_active = models.BooleanField(_("active"), default=True)
    current_version = models.ForeignKey(
        "CarePlanTemplateVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("care plan template")
        verbose_name_plural = _("care plan templates")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="careplantemplate_unique_name"),
            models.CheckConstraint(
                condition=models.Q(trigger__in=Trigger.values),
                name="careplantemplate_trigger_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(anchor="field", anchor_field__isnull=False)
                | (~models.Q(anchor="field") & models.Q(anchor_field__isnull=True)),
                name="careplantemplate_anchor_field_iff_field",
            ),
        ]
        # The trigger scan: active templates of a clinic by trigger.
        indexes = [
            models.Index(fields=["clinic", "trigger", "is_active"], name="careplantemplate_trigger")
        ]

    def __str__(self):
        return self.name

    @property
    def trigger_detail(self) -> str:
        """What exactly starts it: the tag's name, the stage's or visit kind's label."""
        from patients.choices import Stage
        from patients.models import Visit

        if self.trigger == Trigger.TAG_ADDED and self.trigger_tag_id:
            return self.trigger_tag.name
        if self.trigger == Trigger.STAGE_ENTERED and self.trigger_stage in Stage.values:
            return str(Stage(self.trigger_stage).label)
        if self.trigger == Trigger.VISIT_RECORDED and self.trigger_visit_kind in Visit.Kind.values:
            return str(Visit.Kind(self.trigger_visit_kind).label)
        return ""


class CarePlanTemplateVersion(models.Model):
    """The steps of a template as they were when saved. Never edited."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    template = models.ForeignKey(
        CarePlanTemplate, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    # [{"title", "offset_days", "offset_hours", "action", "role", "assignee_id",
    #   "message", "window_start": "09:00", "window_end": "18:00", "start_template_id"}]
    steps = models.JSONField(_("steps"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("care plan template version")
        verbose_name_plural = _("care plan template versions")
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "template", "number"],
                name="careplantemplateversion_unique_number",
            )
        ]

    def __str__(self):
        return f"{self.template} v{self.number}"


class PlanStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    FINISHED = "finished", _("Finished")
    STOPPED = "stopped", _("Stopped")


class CarePlan(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="care_plans")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="care_plans"
    )
    template = models.ForeignKey(CarePlanTemplate, on_delete=models.PROTECT, related_name="plans")
    version = models.ForeignKey(
        CarePlanTemplateVersion, on_delete=models.PROTECT, related_name="plans"
    )
    anchor_date = models.DateField(_("anchor date"))
    # The patient's date field the plan follows (its template's anchor field when it started):
    # a change of the patient's date moves the plan's open tasks (followups/anchors.py).
    anchor_field = models.ForeignKey(
        "patients.PatientField",
        verbose_name=_("anchor field"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=20, choices=PlanStatus.choices, default=PlanStatus.ACTIVE
    )
    stop_reason = models.CharField(_("stop reason"), max_length=200, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The timeline entry that triggered the plan, if any (the trigger scan's audit trail).
    source_touch_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("care plan")
        verbose_name_plural = _("care plans")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A replay of the trigger scan creates nothing twice.
            models.UniqueConstraint(
                fields=["clinic", "patient", "template", "anchor_date"],
                name="careplan_unique_per_anchor",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=PlanStatus.values), name="careplan_status_valid"
            ),
        ]
        indexes = [
            # plan_stop on churn/consent: the patient's active plans.
            models.Index(
                fields=["patient"],
                name="careplan_patient_active",
                condition=models.Q(status="active"),
            ),
            # A patient's date changed: the active plans anchored on that field.
            models.Index(
                fields=["patient", "anchor_field"],
                name="careplan_patient_anchor_field",
                condition=models.Q(status="active", anchor_field__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.template} · {self.patient} · {self.anchor_date}"


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    SKIPPED = "skipped", _("Skipped")
    CANCELLED = "cancelled", _("Cancelled")
    # 漏访: every call attempt the clinic allows went unanswered. Closed, but not done: the
    # figures count it apart from the reached patients.
    UNREACHABLE = "unreachable", _("Unreachable")


# Statuses that close a task with a time (done_at) and a person (done_by).
CLOSED_WITH_TIME = (TaskStatus.DONE, TaskStatus.UNREACHABLE)


class Outcome(models.TextChoices):
    REACHED = "reached", pgettext_lazy("follow-up outcome", "Reached")
    NOT_REACHED = "not_reached", _("Not reached")
    NEEDS_REVISIT = "needs_revisit", _("Needs a revisit")
    ESCALATE = "escalate", _("Escalate to the doctor")
    # The patient was reached and asked to be called back at an agreed time: this task is
    # done (reached), and a callback task is due at that time for the same person.
    CALLBACK = "callback", _("Call back at an agreed time")


class ReminderState(models.TextChoices):
    """The patient reminder of a task whose action speaks to the patient."""

    NONE = "", _("No patient reminder")
    PENDING = "pending", _("Waiting until due")
    ENQUEUED = "enqueued", _("In the outbox")
    SKIPPED = "skipped", _("Skipped")


class FollowUpTaskQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status=TaskStatus.OPEN)

    def due_before(self, moment):
        return self.filter(due_at__lt=moment)

    def due_between(self, start, end):
        return self.filter(due_at__gte=start, due_at__lt=end)

    def overdue(self, now=None):
        """Open and past the end of its window: derived, never stored."""
        return self.open().filter(window_end__lt=now or timezone.now())

    def for_assignee(self, user):
        """The person's own tasks and the tasks of their role's pool."""
        from crm.models import Membership

        roles = Membership.objects.filter(user=user).values_list("role", flat=True)
        return self.filter(
            models.Q(assignee=user) | models.Q(assignee__isnull=True, role__in=list(roles))
        )

    def urgent_first(self):
        return self.order_by("due_at", "id")


class FollowUpTask(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="followup_tasks")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="followup_tasks"
    )
    # Null for tasks made by hand or by an outcome (a revisit call, the doctor's queue).
    plan = models.ForeignKey(
        CarePlan, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    step_index = models.PositiveIntegerField(null=True, blank=True)
    # The timeline entry the trigger scan made this task from (service recovery after a low
    # survey score); unique, so a replayed or concurrent scan cannot make it twice.
    source_touch_id = models.BigIntegerField(null=True, blank=True)
    title = models.CharField(_("task"), max_length=200)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    # A person, or (assignee empty) the pool of everyone with this role.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followup_tasks",
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, blank=True)
    due_at = models.DateTimeField(_("due"))
    window_end = models.DateTimeField(_("due by"))
    status = models.CharField(
        _("status"), max_length=20, choices=TaskStatus.choices, default=TaskStatus.OPEN
    )
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    cancel_reason = models.CharField(_("reason"), max_length=200, blank=True)
    message = models.TextField(_("message to the patient"), blank=True)
    reminder_state = models.CharField(
        max_length=20, choices=ReminderState.choices, blank=True, default=ReminderState.NONE
    )
    reminder_delivery_id = models.BigIntegerField(null=True, blank=True)
    reminder_result = models.CharField(max_length=20, blank=True)
    # Set when the task went into its assignee's digest, so it is announced once.
    staff_reminded_at = models.DateTimeField(null=True, blank=True)
    # 未联系上 so far: each one moves due_at to the next attempt; the last closes the task as
    # unreachable (FollowUpSettings.call_attempts).
    attempts = models.PositiveSmallIntegerField(_("unanswered attempts"), default=0)
    # For a callback task (约定回电): the task whose call agreed the time.
    callback_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("done by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = FollowUpTaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        ordering = ["due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(status__in=CLOSED_WITH_TIME) & models.Q(done_at__isnull=False))
                | (~models.Q(status__in=CLOSED_WITH_TIME) & models.Q(done_at__isnull=True)),
                name="followuptask_done_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=models.Q(window_end__gte=models.F("due_at")),
                name="followuptask_window_after_due",
            ),
            models.CheckConstraint(
                condition=models.Q(assignee__isnull=False) | ~models.Q(role=""),
                name="followuptask_has_assignee_or_role",
            ),
            # A plan makes each of its steps once.
            models.UniqueConstraint(
                fields=["clinic", "plan", "step_index"],
                condition=models.Q(plan__isnull=False),
                name="followuptask_unique_plan_step",
            ),
            models.UniqueConstraint(
                fields=["clinic", "source_touch_id"],
                condition=models.Q(source_touch_id__isnull=False),
                name="followuptask_unique_source_touch",
            ),
        ]
        indexes = [
            # The due scan's staff digests: open().due_before(now), not yet announced.
            models.Index(
                fields=["due_at"],
                name="followuptask_digest_due",
                condition=models.Q(status="open", staff_reminded_at__isnull=True),
            ),
            # The due scan's patient reminders: reminder_state=pending, due_before(now).
            models.Index(
                fields=["due_at"],
                name="followuptask_reminder_due",
                condition=models.Q(status="open", reminder_state="pending"),
            ),
            # The queue: open().for_assignee(u) by due_at.
            models.Index(
                fields=["clinic", "assignee", "due_at"],
                name="followuptask_queue",
                condition=models.Q(status="open"),
            ),
            # Figures: tasks due in a period.
            models.Index(fields=["clinic", "due_at"], name="followuptask_clinic_due"),
            # A patient's open tasks: the patient list's has_open_followups (an EXISTS per
            # patient, patients.querysets.with_open_followups) and the patient page's open
            # follow-ups by due time. Only open rows: most tasks are done, and the EXISTS reads
            # the index alone instead of every task the patient ever had.
            models.Index(
                fields=["patient", "due_at"],
                name="followuptask_patient_open",
                condition=models.Q(status="open"),
            ),
        ]

    def __str__(self):
        return f"{self.title} · {self.patient}"

    def is_overdue(self, now=None) -> bool:
        return self.status == TaskStatus.OPEN and self.window_end < (now or timezone.now())


class ChecklistTickQuerySet(models.QuerySet):
    def standing(self):
        """Ticks not undone."""
        return self.filter(undone_at__isnull=True)


class ChecklistTick(models.Model):
    """A nurse ticked one SOP item: who, when, and the value the item asks for (体温 37.2 ℃).
    Never edited but for its undo (who, when): an undone tick stays as history."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey(FollowUpTask, on_delete=models.CASCADE, related_name="ticks")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(_("ticked at"), default=timezone.now)
    # {"label": "体温", "unit": "℃", "numbers": [37.2], "text": "37.2"} when the step asks.
    value = models.JSONField(_("value"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ChecklistTickQuerySet.as_manager()

    class Meta:
        verbose_name = _("checklist tick")
        verbose_name_plural = _("checklist ticks")
        ordering = ["-at"]
        constraints = [
            # One standing tick per item; undone ones are history.
            models.UniqueConstraint(
                fields=["clinic", "task"],
                condition=models.Q(undone_at__isnull=True),
                name="checklisttick_once_per_task",
            )
        ]

    def __str__(self):
        return f"{self.task} ✓"

    @property
    def value_text(self) -> str:
        """体温 37.2 ℃; "" when the item asks for no value."""
        if not self.value:
            return ""
        parts = (self.value.get("label"), self.value.get("text"), self.value.get("unit"))
        return " ".join(p for p in parts if p)


class TriggerCursor(models.Model):
    """How far the trigger scan has read the timeline (Touch ids). One row, key 'touches'."""

    key = models.CharField(max_length=50, primary_key=True)
    last_touch_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("trigger cursor")
        verbose_name_plural = _("trigger cursors")

    def __str__(self):
        return f"{self.key}: {self.last_touch_id}"


class FollowUpSettings(models.Model):
    """A clinic's follow-up rules. Made when an admin first changes them; until then
    followups.calls.followup_settings answers the defaults."""

    clinic = models.OneToOneField(
        Clinic, on_delete=models.CASCADE, related_name="followup_settings"
    )
    call_attempts = models.PositiveSmallIntegerField(
        _("call attempts"),
        default=3,
        help_text=_("Unanswered calls before a follow-up ends as unreachable (漏访)."),
    )
    call_retry_hours = models.PositiveSmallIntegerField(
        _("hours between call attempts"),
        default=4,
        help_text=_("Counted in staff hours: a night does not count."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("follow-up settings")
        verbose_name_plural = _("follow-up settings")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(call_attempts__gte=1, call_attempts__lte=10),
                name="followupsettings_attempts_range",
            ),
            models.CheckConstraint(
                condition=models.Q(call_retry_hours__gte=1, call_retry_hours__lte=72),
                name="followupsettings_retry_hours_range",
            ),
        ]

    def __str__(self):
        return f"{self.clinic}"


# Appointments live in their own module; imported here so Django registers them.
import followups.appointment_models  # noqa: E402, F401
