"""Small builders for follow-up tests (templates with steps, plans, due tasks)."""

from followups import services
from followups.models import Action, Trigger


def step(title="术后第1天电话随访", offset_days=1, action=Action.CALL, role="assistant", **kw):
    return {"title": title, "offset_days": offset_days, "action": action, "role": role, **kw}


def post_op_template(clinic, *, name="术后随访", trigger=Trigger.MANUAL, **kw):
    return services.template_create(
        clinic=clinic,
        name=name,
        trigger=trigger,
        steps=[
            step("术后第1天电话随访", 1),
            step(
                "术后第7天复查提醒", 7, Action.RE_EXAM, message="{name}您好，请于{date}来院复查。"
            ),
            step("术后第30天电话随访", 30),
        ],
        **kw,
    )
