"""Links a care-plan step's message carries, made by the app that owns them.

followups sits below content in the layers (tests/test_architecture.py), so it cannot call
content's survey service; content registers its own functions here when it loads
(content.apps.ContentConfig.ready). A survey step's text carries {链接}: at send the maker
makes the patient's invitation and returns its tracked link.

- validator(clinic, value) -> the cleaned value, or ValidationError (the step is saved);
- maker(task, step) -> the link, or ValidationError saying why not (the step is sent);
- choices(clinic) -> [(value, label)] for the template editor's picker.

An article a message or re-exam step carries (its "article_id") is registered the same way
(`step_article_register`): its maker makes the patient's tracked link to the article, which
fills {链接} (appended when the text has none); the patient's first read goes on their
timeline.
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


# An article a patient-message step carries (content.articles' tracked links).
ARTICLE_ACTIONS = ("message", "re_exam")
_ARTICLE: dict = {}


def step_article_register(*, validator, maker, choices) -> None:
    _ARTICLE.update(validator=validator, maker=maker, choices=choices)


def step_article_choices(*, clinic) -> list:
    chooser = _ARTICLE.get("choices")
    return list(chooser(clinic)) if chooser else []


def step_article_clean(action: str, *, clinic, value):
    """The article id a step carries (None: none), or ValidationError."""
    if value in (None, ""):
        return None
    if action not in ARTICLE_ACTIONS or "validator" not in _ARTICLE:
        raise ValidationError(_("only a message or re-exam step can carry an article."))
    return _ARTICLE["validator"](clinic, value)


def step_article_make(task, step: dict) -> str:
    """The patient's tracked link to the step's article, or ValidationError saying why not."""
    maker = _ARTICLE.get("maker")
    if maker is None:
        raise ValidationError(_("This step's link cannot be made."))
    return maker(task, step)
