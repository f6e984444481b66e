"""Values a checklist item asks for when it is ticked (体温 ℃, 血压 mmHg).

A care plan step may carry a value spec, checked when the template is saved:
- {"kind": "number", "label": "体温", "unit": "℃", "min": 35, "max": 42}: one number in the
  range, both ends included;
- {"kind": "blood_pressure", "label": "血压", "unit": "mmHg"}: two whole numbers written
  收缩压/舒张压 ("120/80"), systolic 50–260 and diastolic 30–160, systolic above diastolic.
The tick stores {"label", "unit", "numbers", "text"}; a value out of range or malformed is a
ValidationError in the user's language, and nothing is saved.
"""

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

KINDS = ("number", "blood_pressure")
SYSTOLIC = (50, 260)
DIASTOLIC = (30, 160)
_PAIR = re.compile(r"^\s*(\d{2,3})\s*[/／]\s*(\d{2,3})\s*$")
MAX_DIGITS = 8


def _number(raw) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(raw) from None
    if (
        not value.is_finite()
        or len(value.as_tuple().digits) > MAX_DIGITS
        or abs(value.adjusted()) > MAX_DIGITS
    ):
        raise ValueError(raw)
    return value


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def spec_clean(raw) -> dict | None:
    """A step's value spec, normalised; None when the step asks for no value. Raises
    ValueError with a message for the step's error (care_templates names the step)."""
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise ValueError(_("the value to record is an object (kind, label, unit, range)."))
    kind = str(raw.get("kind") or "")
    if kind not in KINDS:
        raise ValueError(_("choose the kind of value: a number or a blood pressure."))
    label = str(raw.get("label") or "").strip()[:20]
    if not label:
        raise ValueError(_("name the value to record, e.g. 体温."))
    unit = str(raw.get("unit") or "").strip()[:10]
    if kind == "blood_pressure":
        return {"kind": kind, "label": label, "unit": unit or "mmHg"}
    try:
        low, high = _number(raw.get("min")), _number(raw.get("max"))
    except ValueError:
        raise ValueError(_("the value needs its allowed range (lowest and highest).")) from None
    if low >= high:
        raise ValueError(_("the lowest allowed value must be below the highest."))
    return {"kind": kind, "label": label, "unit": unit, "min": _plain(low), "max": _plain(high)}


def value_clean(spec: dict, raw) -> dict:
    """The value entered for a tick, checked against the step's spec."""
    text = str(raw if raw is not None else "").strip()
    label, unit = spec["label"], spec.get("unit", "")
    names = {"label": label, "unit": unit}
    if not text:
        raise ValidationError({"value": [_("Enter %(label)s before ticking.") % names]})
    if spec["kind"] == "blood_pressure":
        match = _PAIR.match(text)
        if not match:
            raise ValidationError(
                {"value": [_("Write %(label)s as two numbers, e.g. 120/80.") % names]}
            )
        high, low = int(match[1]), int(match[2])
        if not (SYSTOLIC[0] <= high <= SYSTOLIC[1] and DIASTOLIC[0] <= low <= DIASTOLIC[1]):
            raise ValidationError(
                {
                    "value": [
                        _(
                            "%(label)s %(value)s is outside the allowed range "
                            "(systolic 50–260, diastolic 30–160 %(unit)s)."
                        )
                        % {**names, "value": text}
                    ]
                }
            )
        if high <= low:
            raise ValidationError(
                {"value": [_("The systolic pressure must be above the diastolic.")]}
            )
        return {"label": label, "unit": unit, "numbers": [high, low], "text": f"{high}/{low}"}
    try:
        number = _number(text)
    except ValueError:
        raise ValidationError({"value": [_("%(label)s must be a number.") % names]}) from None
    low, high = Decimal(spec["min"]), Decimal(spec["max"])
    if not low <= number <= high:
        raise ValidationError(
            {
                "value": [
                    _("%(label)s %(value)s is outside the allowed range %(min)s–%(max)s %(unit)s.")
                    % {**names, "value": _plain(number), "min": spec["min"], "max": spec["max"]}
                ]
            }
        )
    return {"label": label, "unit": unit, "numbers": [float(number)], "text": _plain(number)}


def spec_for(task) -> dict | None:
    """The value spec of the step a checklist task was made from, if it asks for one."""
    if task.plan_id is None or task.step_index is None:
        return None
    steps = task.plan.version.steps
    if task.step_index >= len(steps):
        return None
    return steps[task.step_index].get("value") or None
