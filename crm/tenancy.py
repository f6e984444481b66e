"""The one place that answers "which clinic is this request about".

Pages use `clinic_member_required` and `get_for_clinic`; the API uses
`crm.api.IsClinicMember`, which calls `membership_for_request` too. Querysets
always start from the clinic: `Model.objects.filter(clinic=request.clinic)`.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from crm.capabilities import capability_check
from crm.models import Membership


def membership_for_request(request):
    """The signed-in user's membership, cached on the request; None for outsiders."""
    if not hasattr(request, "_membership_cache"):
        membership = None
        if request.user.is_authenticated:
            membership = (
                Membership.objects.select_related("clinic", "user")
                .filter(user=request.user)
                .first()
            )
        request._membership_cache = membership
        if membership is not None:
            request.membership = membership
            request.clinic = membership.clinic
    return request._membership_cache


def clinic_member_required(view=None, *, capability=None):
    """Page decorator: signed in, a member of a clinic, and (optionally) with `capability`
    (a name from crm.capabilities)."""
    if capability is not None:
        capability_check(capability)

    def decorator(view_func):
        @wraps(view_func)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = membership_for_request(request)
            if membership is None:
                raise PermissionDenied("This account does not belong to a clinic.")
            if capability and not membership.can(capability):
                raise PermissionDenied("Your role cannot open this page.")
            return view_func(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view is not None else decorator


def for_clinic(queryset, clinic):
    return queryset.filter(clinic=clinic)


def get_for_clinic(queryset, clinic, **lookup):
    """Fetch one object of `clinic`; another clinic's object is a 404, never a 403."""
    if clinic is None:
        raise Http404
    return get_object_or_404(for_clinic(queryset, clinic), **lookup)


def membership_context(request):
    """Template context: the current membership and clinic, for the page header."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    membership = membership_for_request(request)
    return {"membership": membership, "clinic": membership.clinic if membership else None}
