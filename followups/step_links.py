"""Links a care-plan step's message carries, made by the app that owns them.

followups sits below content in the layers (tests/test_architecture.py), so it cannot call
content's survey service; content registers its own functions here when it loads
(content.apps.ContentConfig.ready). A survey step's text carries {链接}: at send the maker
makes the patient's invitation and returns its tracked link.

- validator(clinic, value) -> the cleaned value, or ValidationError (the step is saved);
- maker(task, step) -> the link, or ValidationError saying why not (the step is sent);
- choices(clinic) -> [(value, label)] for the template editor's picker.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_VALIDATORS: dict = {}
_MAKERS: dict = {}
_CHOICES: dict = {}


def step_link_register(action: str, *, validator, maker, choices) -> None:
    _VALIDATORS[action] = validator
    _MAKERS[action] = maker
    _CHOICES[action] = choices


def step_link_choices(action: str, *, clinic) -> list:
    chooser = _CHOICES.get(action)
    return list(chooser(clinic)) if chooser else []


def step_link_clean(action: str, *, clinic, value):
    validator = _VALIDATORS.get(action)
    return validator(clinic, value) if validator else None


def step_link_make(task, step: dict) -> str:
    maker = _MAKERS.get(task.action)
    if maker is None:
        raise ValidationError(_("This step's link cannot be made."))
    return maker(task, step)


def has_link(action: str) -> bool:
    return action in _MAKERS
