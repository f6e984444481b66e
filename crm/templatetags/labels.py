"""`{% translate "Stage" %}{% colon %}`: a label's colon in the reader's language (阶段：, Stage: ).
An ASCII colon after a Chinese label reads as a typo."""

from django import template
from django.utils.translation import pgettext

register = template.Library()


@register.simple_tag
def colon() -> str:
    return pgettext("after a label", ": ")
