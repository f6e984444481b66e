"""Saving message templates: known variables only, and no red-line hits."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from content.models import MessageTemplate
from content.redline import redline_ensure
from content.templating import template_validate


@transaction.atomic
def message_template_save(*, clinic, name: str, body: str, by=None, template=None):
    name, body = (name or "").strip(), (body or "").strip()
    if not name:
        raise ValidationError({"name": [_("Give the template a name.")]})
    template_validate(text=body)
    redline_ensure(clinic=clinic, text=body)
    others = MessageTemplate.objects.filter(clinic=clinic, name=name)
    if template is not None:
        others = others.exclude(pk=template.pk)
    if others.exists():
        raise ValidationError({"name": [_("A template with this name exists.")]})
    template = template or MessageTemplate(clinic=clinic, created_by=by)
    template.name, template.body = name, body
    template.save()
    return template
