"""Saving message templates: known variables only, and no red-line hits."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from content.models import MessageTemplate
from wechat.composer import text_check


@transaction.atomic
def message_template_save(*, clinic, name: str, body: str, by=None, template=None):
    name, body = (name or "").strip(), (body or "").strip()
    if not name:
        raise ValidationError({"name": [_("Give the template a name.")]})
    body = text_check(clinic=clinic, text=body)  # the composer: variables, red lines, length
    others = MessageTemplate.objects.filter(clinic=clinic, name=name)
    if template is not None:
        others = others.exclude(pk=template.pk)
    if others.exists():
        raise ValidationError({"name": [_("A template with this name exists.")]})
    template = template or MessageTemplate(clinic=clinic, created_by=by)
    template.name, template.body = name, body
    template.save()
    return template
