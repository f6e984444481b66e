"""Care plan templates (SOPs): create, edit (a new version), validate.

Validation happens before anything is written, so a bad edit changes nothing: the
current version, the plans started from it and their tasks stay as they were.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.models import Clinic, Membership, Role
from followups import checklist_values, clock
from followups.models import (
    Action,
    Anchor,
    CarePlanTemplate,
    CarePlanTemplateVersion,
    Trigger,
)
from followups.step_links import has_link, step_article_clean, step_link_clean
from patients.choices import Stage
from patients.fields.models import FieldKind, PatientField
from patients.models import PatientTag, Visit
from wechat.composer import text_check

# Variables a step's message may use, filled when the plan starts.
# {复诊日期} is the step's day.
MESSAGE_VARIABLES = ("姓名", "医生", "诊所", "复诊日期")
MAX_STEPS = 50
MAX_OFFSET_DAYS = 3650
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _id(value) -> int:
    """A database id, or ValueError (a huge number would be a database error, not a 400)."""
    number = int(value)
    if not 0 < number < 2**63:
        raise ValueError(value)
    return number


def _clean_step(clinic: Clinic, number: int, raw: dict) -> dict:
    """One step, normalised; raises a ValidationError naming the step (第 N 步)."""

    def error(message):
        return ValidationError(
            {"steps": [_("Step %(number)s: %(message)s") % {"number": number, "message": message}]}
        )

    title = str(raw.get("title") or "").strip()
    if not title:
        raise error(_("enter what is to be done."))
    try:
        offset = int(raw.get("offset_days", 0))
    except (TypeError, ValueError, OverflowError):
        raise error(_("the offset must be a whole number of days.")) from None
    if offset < 0:
        raise error(_("the offset cannot be negative (%(days)s days).") % {"days": offset})
    if offset > MAX_OFFSET_DAYS:
        raise error(_("the offset is more than ten years."))
    action = str(raw.get("action") or "")
    if action not in Action.values:
        raise error(_("choose an action."))
    role = str(raw.get("role") or "")
    assignee_id = raw.get("assignee_id") or None
    if role and role not in Role.values:
        raise error(_("unknown role."))
    if assignee_id is not None:
        try:
            assignee_id = _id(assignee_id)
        except (TypeError, ValueError):
            raise error(_("unknown staff member.")) from None
        if not Membership.objects.filter(clinic=clinic, user_id=assignee_id).exists():
            raise error(_("this person is not a member of this clinic."))
    if not role and assignee_id is None:
        raise error(_("choose who does it (a role or a person)."))
    try:
        article_id = step_article_clean(action, clinic=clinic, value=raw.get("article_id"))
    except ValidationError as exc:
        raise error(" ".join(exc.messages)) from None
    message = str(raw.get("message") or "").strip()
    if message:
        # The composer's check at save: {姓名}-style variables ({name} is rewritten to it),
        # no red line (named), WeCom's length.
        try:
            with_link = has_link(action) or article_id is not None
            allowed = MESSAGE_VARIABLES + (("链接",) if with_link else ())
            message = text_check(clinic=clinic, text=message, allowed=allowed)
        except ValidationError as exc:
            raise error(" ".join(m for ms in exc.message_dict.values() for m in ms)) from None
    if action in (Action.MESSAGE, Action.RE_EXAM, Action.SURVEY) and not message:
        raise error(_("a message to the patient needs its text."))
    start = str(raw.get("window_start") or "09:00")
    end = str(raw.get("window_end") or "18:00")
    if not (_HHMM.match(start) and _HHMM.match(end)):
        raise error(_("the time window is written HH:MM, e.g. 09:00–18:00."))
    if clock.hhmm(end) <= clock.hhmm(start):
        raise error(_("the time window must end after it starts."))
    start_template_id = raw.get("start_template_id") or None
    if action == Action.START_PLAN:
        try:
            start_template_id = _id(start_template_id)
        except (TypeError, ValueError):
            raise error(_("choose the plan this step starts.")) from None
        if not CarePlanTemplate.objects.filter(clinic=clinic, pk=start_template_id).exists():
            raise error(_("choose the plan this step starts."))
    else:
        start_template_id = None
    linked = None
    if has_link(action):
        # The survey the step sends (its tracked link fills {链接}, or is appended).
        try:
            linked = step_link_clean(action, clinic=clinic, value=raw.get("survey_id"))
        except ValidationError as exc:
            raise error(" ".join(exc.messages)) from None
    value = None
    if action == Action.CHECKLIST:
        try:
            value = checklist_values.spec_clean(raw.get("value"))
        except ValueError as exc:
            raise error(str(exc)) from None
    step = {
        "title": title[:200],
        "offset_days": offset,
        "action": action,
        "role": role,
        "assignee_id": assignee_id,
        "message": message,
        "window_start": start,
        "window_end": end,
        "start_template_id": start_template_id,
    }
    if value:
        step["value"] = value
    if linked:
        step["survey_id"] = linked
    if article_id:
        step["article_id"] = article_id
    return step


def steps_clean(*, clinic: Clinic, steps) -> list[dict]:
    if not isinstance(steps, list) or not steps:
        raise ValidationError({"steps": [_("A plan needs at least one step.")]})
    if len(steps) > MAX_STEPS:
        raise ValidationError({"steps": [_("A plan has at most 50 steps.")]})
    if not all(isinstance(s, dict) for s in steps):
        raise ValidationError({"steps": [_("Each step is an object.")]})
    return [_clean_step(clinic, n, raw) for n, raw in enumerate(steps, start=1)]


def _trigger_clean(clinic: Clinic, trigger, tag, stage, visit_kind) -> dict:
    if trigger not in Trigger.values:
        raise ValidationError({"trigger": [_("Choose what starts the plan.")]})
    fields = {"trigger_tag": None, "trigger_stage": "", "trigger_visit_kind": ""}
    if trigger == Trigger.TAG_ADDED:
        if tag is None or tag.clinic_id != clinic.pk:
            raise ValidationError({"trigger_tag": [_("Choose the tag that starts the plan.")]})
        fields["trigger_tag"] = tag
    elif trigger == Trigger.STAGE_ENTERED:
        if stage not in Stage.values:
            raise ValidationError({"trigger_stage": [_("Choose the stage that starts the plan.")]})
        fields["trigger_stage"] = stage
    elif trigger == Trigger.VISIT_RECORDED:
        if visit_kind and visit_kind not in Visit.Kind.values:
            raise ValidationError({"trigger_visit_kind": [_("Unknown visit kind.")]})
        fields["trigger_visit_kind"] = visit_kind or ""
    return fields


def _anchor_clean(clinic: Clinic, anchor, anchor_field) -> dict:
    """The anchor and its field: a patient date field of the clinic with anchor "field"."""
    if anchor not in Anchor.values:
        raise ValidationError({"anchor": [_("Choose the date the steps count from.")]})
    if anchor != Anchor.FIELD:
        return {"anchor": anchor, "anchor_field": None}
    if (
        anchor_field is None
        or anchor_field.clinic_id != clinic.pk
        or anchor_field.kind != FieldKind.DATE
    ):
        raise ValidationError(
            {"anchor_field": [_("Choose the patient's date field the steps count from.")]}
        )
    return {"anchor": anchor, "anchor_field": anchor_field}


def _check_no_loop(clinic: Clinic, template: CarePlanTemplate | None, steps: list[dict]) -> None:
    """A plan that (through its steps) starts itself again would run for ever."""
    graph: dict[int, set[int]] = {}
    for other in CarePlanTemplate.objects.filter(clinic=clinic).select_related("current_version"):
        version = other.current_version
        graph[other.pk] = {
            s["start_template_id"]
            for s in (version.steps if version else [])
            if s.get("start_template_id")
        }
    me = template.pk if template else 0
    graph[me] = {s["start_template_id"] for s in steps if s.get("start_template_id")}
    names = dict(CarePlanTemplate.objects.filter(clinic=clinic).values_list("pk", "name"))
    if template is None:
        names[0] = _("this plan")
    # Depth-first search from this template; any path back to it is a loop.
    stack = [(target, [me, target]) for target in graph[me]]
    seen = set()
    while stack:
        node, path = stack.pop()
        if node == me:
            chain = " → ".join(names.get(n, "?") for n in path)
            raise ValidationError(
                {
                    "steps": [
                        _("These plans would start each other for ever: %(chain)s.")
                        % {"chain": chain}
                    ]
                }
            )
        if node in seen:
            continue
        seen.add(node)
        stack.extend((nxt, path + [nxt]) for nxt in graph.get(node, ()))


@transaction.atomic
def template_create(
    *,
    clinic: Clinic,
    name: str,
    steps: list[dict],
    trigger: str = Trigger.MANUAL,
    trigger_tag: PatientTag | None = None,
    trigger_stage: str = "",
    trigger_visit_kind: str = "",
    anchor: str = Anchor.TRIGGER,
    anchor_field: PatientField | None = None,
    by=None,
) -> CarePlanTemplate:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [_("Enter the plan's name.")]})
    if CarePlanTemplate.objects.filter(clinic=clinic, name=name).exists():
        raise ValidationError({"name": [_("This clinic already has a plan with this name.")]})
    anchor_fields = _anchor_clean(clinic, anchor, anchor_field)
    trigger_fields = _trigger_clean(clinic, trigger, trigger_tag, trigger_stage, trigger_visit_kind)
    cleaned = steps_clean(clinic=clinic, steps=steps)
    _check_no_loop(clinic, None, cleaned)
    template = CarePlanTemplate.objects.create(
        clinic=clinic, name=name, trigger=trigger, **anchor_fields, **trigger_fields
    )
    _new_version(template, cleaned, by)
    return template


@transaction.atomic
def template_update(
    *,
    template: CarePlanTemplate,
    by=None,
    name: str | None = None,
    steps: list[dict] | None = None,
    is_active: bool | None = None,
    trigger: str | None = None,
    trigger_tag: PatientTag | None = None,
    trigger_stage: str | None = None,
    trigger_visit_kind: str | None = None,
    anchor: str | None = None,
    anchor_field: PatientField | None = None,
) -> CarePlanTemplate:
    """Edit a template. New steps make a new version; plans already started keep theirs."""
    clinic = template.clinic
    locked = CarePlanTemplate.objects.select_for_update().get(pk=template.pk)
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": [_("Enter the plan's name.")]})
        if CarePlanTemplate.objects.filter(clinic=clinic, name=name).exclude(pk=locked.pk).exists():
            raise ValidationError({"name": [_("This clinic already has a plan with this name.")]})
        locked.name = name
    if anchor is not None:
        # Plans already started keep the anchor they started with (CarePlan.anchor_field).
        for attr, value in _anchor_clean(clinic, anchor, anchor_field).items():
            setattr(locked, attr, value)
    if trigger is not None:
        fields = _trigger_clean(
            clinic, trigger, trigger_tag, trigger_stage or "", trigger_visit_kind or ""
        )
        locked.trigger = trigger
        for field, value in fields.items():
            setattr(locked, field, value)
    if is_active is not None:
        locked.is_active = bool(is_active)
    cleaned = None
    if steps is not None:
        cleaned = steps_clean(clinic=clinic, steps=steps)
        _check_no_loop(clinic, locked, cleaned)
    locked.save()
    if cleaned is not None and cleaned != (
        locked.current_version.steps if locked.current_version else None
    ):
        _new_version(locked, cleaned, by)
    template.refresh_from_db()
    return template


def _new_version(template: CarePlanTemplate, steps: list[dict], by) -> CarePlanTemplateVersion:
    number = (
        template.versions.order_by("-number").values_list("number", flat=True).first() or 0
    ) + 1
    version = CarePlanTemplateVersion.objects.create(
        clinic_id=template.clinic_id, template=template, number=number, steps=steps, created_by=by
    )
    CarePlanTemplate.objects.filter(pk=template.pk).update(current_version=version)
    template.current_version = version
    return version
