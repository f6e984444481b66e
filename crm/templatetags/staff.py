"""{{ user|staff_name }}: a person as the clinic knows them (display name), never the login."""

from django import template

from crm.selectors import user_name

register = template.Library()


@register.filter
def staff_name(user) -> str:
    return user_name(user)
