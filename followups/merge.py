"""followups' part of a patient merge (patients/merge.py, setting PATIENT_MERGE_MOVERS): the
duplicate's care plans and follow-up tasks move to the survivor."""

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from followups.models import CarePlan, FollowUpTask, PlanStatus
from followups.plans import plan_stop

LABELS = {"plans": gettext_lazy("Care plans"), "tasks": gettext_lazy("Follow-up tasks")}


def merge_counts(patient) -> dict:
    return {
        LABELS["plans"]: CarePlan.objects.filter(patient=patient).count(),
        LABELS["tasks"]: FollowUpTask.objects.filter(patient=patient).count(),
    }


def merge_move(*, survivor, duplicate) -> dict[str, int]:
    # A plan the survivor has too (same template and anchor date, unique per patient) is the
    # same plan started twice: the duplicate's copy stops and stays with the closed record.
    theirs = CarePlan.objects.filter(patient=duplicate).select_related("template", "patient")
    same = Q()
    for template_id, anchor in CarePlan.objects.filter(patient=survivor).values_list(
        "template_id", "anchor_date"
    ):
        same |= Q(template_id=template_id, anchor_date=anchor)
    twins = theirs.filter(same) if same else theirs.none()
    for plan in twins.filter(status=PlanStatus.ACTIVE):
        plan_stop(plan=plan, reason=_("Merged into another record that has this plan"))
    twin_ids = list(twins.values_list("pk", flat=True))
    plans = CarePlan.objects.filter(patient=duplicate).exclude(pk__in=twin_ids)
    tasks = FollowUpTask.objects.filter(patient=duplicate).exclude(plan_id__in=twin_ids)
    return {
        "plans": plans.update(patient=survivor),
        "tasks": tasks.update(patient=survivor),
    }
