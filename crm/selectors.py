"""Reads about staff: who works for a clinic, in which role, and by which name people see them."""

from collections.abc import Iterable

from django.db.models import Case, CharField, F, Q, QuerySet, Value, When
from django.db.models.functions import Concat

from crm.models import Clinic, Membership


def staff_of(clinic: Clinic, *, roles: Iterable[str] | None = None, active: bool = True):
    """The clinic's staff members (active ones unless `active=False`), by role then id."""
    members = Membership.objects.filter(clinic=clinic).select_related("user")
    if roles is not None:
        members = members.filter(role__in=list(roles))
    if active:
        members = members.filter(user__is_active=True)
    return members.order_by("role", "id")


def staff_choices(clinic: Clinic, *, roles: Iterable[str]) -> list[tuple[int, str]]:
    """(user id, display name) of the clinic's active members in `roles`: the pickers."""
    return [(m.user_id, m.name) for m in staff_of(clinic, roles=roles)]


def staff_names(clinic_id: int) -> dict[int, str]:
    """user id → the name people see (display name, else full name, else username), for every
    member of the clinic, inactive ones too (their old entries keep their name)."""
    return {
        m.user_id: m.name
        for m in Membership.objects.filter(clinic_id=clinic_id).select_related("user")
    }


def user_name(user) -> str:
    """The name shown for one user: the display name of their membership, else their login."""
    if user is None:
        return ""
    # .all() reads a prefetch of "memberships" when the caller made one (one login, one clinic).
    memberships = list(user.memberships.all()[:1]) if user.pk else []
    if memberships:
        memberships[0].user = user
        return memberships[0].name
    return user.get_full_name() or user.get_username()


def users_with_staff_name(users: QuerySet) -> QuerySet:
    """Users annotated with `staff_name` (display name, else username): admin choices."""
    full = Concat(F("first_name"), Value(" "), F("last_name"), output_field=CharField())
    return users.annotate(
        staff_name=Case(
            When(memberships__display_name__gt="", then=F("memberships__display_name")),
            When(Q(first_name__gt="") | Q(last_name__gt=""), then=full),
            default=F("username"),
            output_field=CharField(),
        )
    )
