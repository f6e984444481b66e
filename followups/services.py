"""The follow-ups' writes, in one place for views, the API, tasks and commands.

The work lives in modules split by domain; this module is the door others use.
"""

from followups.appointment_reminders import appointment_reminders_enqueue
from followups.appointments import (
    appointment_arrive,
    appointment_book,
    appointment_cancel,
    appointment_no_show,
)
from followups.calls import call_reveal, followup_settings, followup_settings_update
from followups.care_templates import steps_clean, template_create, template_update
from followups.plans import (
    checklist_tick,
    checklist_untick,
    followup_complete,
    plan_anchor_date,
    plan_start,
    plan_stop,
    plans_stop_for_patient,
    render_message,
    task_create,
)
from followups.plans_bulk import BulkStart, plan_start_bulk
from followups.reminders import (
    due_scan,
    patient_reminders_enqueue,
    staff_digests_enqueue,
    team_digests_enqueue,
)
from followups.results import reminder_results_poll
from followups.triggers import triggers_scan

__all__ = [
    "appointment_arrive",
    "appointment_book",
    "appointment_cancel",
    "appointment_no_show",
    "appointment_reminders_enqueue",
    "BulkStart",
    "call_reveal",
    "checklist_tick",
    "checklist_untick",
    "due_scan",
    "followup_complete",
    "followup_settings",
    "followup_settings_update",
    "patient_reminders_enqueue",
    "plan_anchor_date",
    "plan_start",
    "plan_start_bulk",
    "plan_stop",
    "plans_stop_for_patient",
    "reminder_results_poll",
    "render_message",
    "staff_digests_enqueue",
    "steps_clean",
    "task_create",
    "team_digests_enqueue",
    "template_create",
    "template_update",
    "triggers_scan",
]
