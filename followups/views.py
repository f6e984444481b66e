"""Pages: the assistant's queue, the nurse's checklist, the template editor (admins).
Views are thin: selectors read, services write, errors show on the page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.forms import form_add_service_errors
from crm.tenancy import clinic_member_required, get_for_clinic
from followups import checklist_values, clock, selectors, services
from followups.forms import (
    CompleteForm,
    FollowUpSettingsForm,
    StepFormSet,
    TemplateForm,
    TickForm,
)
from followups.models import CarePlanTemplate, FollowUpTask, Outcome, TaskStatus
from patients.selectors import has_no_ward


def _back(request, default: str):
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@clinic_member_required
def queue(request):
    now = timezone.now()
    sections = selectors.queue_sections(membership=request.membership, now=now)
    return render(
        request,
        "followups/queue.html",
        {
            "sections": [
                ("overdue", _("Overdue"), sections["overdue"]),
                ("today", _("Today"), sections["today"]),
                ("upcoming", _("Upcoming (7 days)"), sections["upcoming"]),
            ],
            "outcomes": Outcome.choices,
            "today": clock.local_today(now),
            "can_call": request.membership.can_call,
        },
    )


@require_POST
@clinic_member_required
def task_complete(request, pk):
    task = get_for_clinic(selectors.tasks_visible_to(request.membership), request.clinic, pk=pk)
    form = CompleteForm(request.POST)
    # The datetime-local callback time is a wall-clock time of the clinic.
    with timezone.override(clock.clinic_tz()):
        valid = form.is_valid()
    if not valid:
        messages.error(request, _form_error_text(form))
        return _back(request, reverse("followups:queue"))
    try:
        done = services.followup_complete(
            task=task,
            by=request.user,
            outcome=form.cleaned_data["outcome"],
            notes=form.cleaned_data["notes"],
            callback_at=form.cleaned_data["callback_at"],
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _outcome_text(done))
    return _back(request, reverse("followups:queue"))


def _form_error_text(form) -> str:
    """Each error with its field's label: 回电时间：请输入有效的日期/时间。"""
    return " ".join(
        f"{form.fields[name].label}：{error}" if name in form.fields else str(error)
        for name, errors in form.errors.items()
        for error in errors
    )


def _outcome_text(task) -> str:
    names = {"task": task.title, "patient": task.patient.name}
    if task.status == TaskStatus.UNREACHABLE:
        return _("Unreachable after %(attempts)s attempts: %(task)s · %(patient)s") % {
            **names,
            "attempts": task.attempts,
        }
    if task.status == TaskStatus.OPEN:
        return _("Not reached: %(task)s · %(patient)s. Next attempt at %(at)s.") % {
            **names,
            "at": f"{clock.local(task.due_at):%m-%d %H:%M}",
        }
    if task.outcome == Outcome.CALLBACK:
        callback = FollowUpTask.objects.filter(callback_of=task).order_by("-id").first()
        if callback is not None:
            return _("Callback at %(at)s: %(task)s · %(patient)s") % {
                **names,
                "at": f"{clock.local(callback.due_at):%m-%d %H:%M}",
            }
    return _("Done: %(task)s · %(patient)s") % names


@clinic_member_required
def checklist(request):
    day = clock.local_today()
    groups = selectors.checklist_groups(membership=request.membership, day=day)
    for _name, items in groups:
        for item in items:
            item.value_spec = checklist_values.spec_for(item)
            ticks = list(item.ticks.all())
            item.tick = ticks[0] if ticks else None
            item.can_undo = item.tick is not None and (
                item.tick.by_id == request.user.pk or request.membership.can_manage_clinic
            )
    total = sum(len(items) for _name, items in groups)
    done = sum(1 for _name, items in groups for item in items if item.status == "done")
    return render(
        request,
        "followups/checklist.html",
        {
            "groups": groups,
            "day": day,
            "total": total,
            "done": done,
            "no_ward": has_no_ward(request.membership),
        },
    )


@require_POST
@clinic_member_required
def task_tick(request, pk):
    task = get_for_clinic(selectors.tasks_visible_to(request.membership), request.clinic, pk=pk)
    form = TickForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_error_text(form))
        return _back(request, reverse("nurse_home"))
    try:
        services.checklist_tick(task=task, by=request.user, value=form.cleaned_data["value"])
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    return _back(request, reverse("nurse_home"))


@require_POST
@clinic_member_required
def task_untick(request, pk):
    task = get_for_clinic(selectors.tasks_visible_to(request.membership), request.clinic, pk=pk)
    try:
        services.checklist_untick(
            task=task, by=request.user, ip_address=request.META.get("REMOTE_ADDR")
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request,
            _("Tick undone: %(task)s · %(patient)s")
            % {"task": task.title, "patient": task.patient.name},
        )
    return _back(request, reverse("nurse_home"))


@clinic_member_required
def template_list(request):
    templates = CarePlanTemplate.objects.filter(clinic=request.clinic).select_related(
        "current_version", "trigger_tag"
    )
    return render(
        request,
        "followups/template_list.html",
        {
            "templates": templates,
            "can_edit": request.membership.can_manage_clinic,
            "settings": services.followup_settings(request.clinic.pk),
        },
    )


@require_POST
@clinic_member_required(capability="manage_clinic")
def followup_settings_edit(request):
    form = FollowUpSettingsForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_error_text(form))
        return redirect("followups:templates")
    try:
        services.followup_settings_update(clinic_id=request.clinic.pk, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Follow-up settings saved."))
    return redirect("followups:templates")


def _initial_steps(template):
    if template is None or template.current_version is None:
        return []
    return [
        {**step, "start_template": step.get("start_template_id"), **_value_initial(step)}
        for step in template.current_version.steps
    ]


def _value_initial(step: dict) -> dict:
    value = step.get("value") or {}
    return {
        "value_kind": value.get("kind", ""),
        "value_label": value.get("label", ""),
        "value_unit": value.get("unit", ""),
        "value_min": value.get("min"),
        "value_max": value.get("max"),
    }


@clinic_member_required(capability="manage_clinic")
def template_edit(request, pk=None):
    clinic = request.clinic
    template = get_for_clinic(CarePlanTemplate.objects.all(), clinic, pk=pk) if pk else None
    initial = {"trigger": "manual", "anchor": "trigger", "is_active": True}
    if template is not None:
        initial = {
            "name": template.name,
            "trigger": template.trigger,
            "trigger_tag": template.trigger_tag_id,
            "trigger_stage": template.trigger_stage,
            "trigger_visit_kind": template.trigger_visit_kind,
            "anchor": template.anchor,
            "anchor_field": template.anchor_field_id,
            "is_active": template.is_active,
        }
    form_kwargs = {"clinic": clinic}
    if request.method == "POST":
        form = TemplateForm(request.POST, clinic=clinic)
        steps = StepFormSet(request.POST, prefix="steps", form_kwargs=form_kwargs)
        if form.is_valid() and steps.is_valid():
            data = form.cleaned_data
            step_list = [s for s in (f.step() for f in steps.forms) if s]
            fields = {
                "name": data["name"],
                "steps": step_list,
                "trigger": data["trigger"],
                "trigger_tag": data["trigger_tag"],
                "trigger_stage": data["trigger_stage"],
                "trigger_visit_kind": data["trigger_visit_kind"],
                "anchor": data["anchor"],
                "anchor_field": data["anchor_field"],
            }
            try:
                if template is None:
                    services.template_create(clinic=clinic, by=request.user, **fields)
                else:
                    services.template_update(
                        template=template, by=request.user, is_active=data["is_active"], **fields
                    )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Saved. Plans already started keep their tasks."))
                return redirect("followups:templates")
    else:
        form = TemplateForm(initial=initial, clinic=clinic)
        steps = StepFormSet(
            initial=_initial_steps(template), prefix="steps", form_kwargs=form_kwargs
        )
    return render(
        request,
        "followups/template_edit.html",
        {"form": form, "steps": steps, "template": template},
    )
