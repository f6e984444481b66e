"""The API's pattern, set once: clinic scoping, role checks, one error shape, paging."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator as DjangoPaginator
from django.http import Http404
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination, permissions, serializers, throttling

from crm.replica import replica_reads
from crm.tenancy import membership_for_request


class IsClinicMember(permissions.BasePermission):
    """Signed in and a member of a clinic; sets request.clinic and request.membership.

    Views may narrow it with `capability` (every method) or `write_capability` (unsafe
    methods only), each a name from crm.capabilities.
    """

    message = "You are not a member of a clinic."

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        membership = membership_for_request(request)
        if membership is None:
            return False
        capability = getattr(view, "capability", None)
        if capability and not membership.can(capability):
            return False
        write_capability = getattr(view, "write_capability", None)
        if write_capability and request.method not in permissions.SAFE_METHODS:
            return membership.can(write_capability)
        return True


class DateField(serializers.DateField):
    """A date from 1900 to 2100 (crm.guards.date_in_range): later ones overflow date arithmetic
    (a care plan's day 0 in 9999 plus its offsets), earlier ones are typos. Every API date field,
    and every model DateField of a ModelSerializer (crm.apps), is one of these."""

    def __init__(self, **kwargs):
        from crm.guards import date_in_range

        kwargs["validators"] = [*kwargs.get("validators", ()), date_in_range]
        super().__init__(**kwargs)


class CountFromReplicaPaginator(DjangoPaginator):
    """A list's total may come from the read replica (crm.replica); its rows never do."""

    @cached_property
    def count(self):
        with replica_reads():
            return DjangoPaginator.count.func(self)


class PageNumberPagination(pagination.PageNumberPagination):
    django_paginator_class = CountFromReplicaPaginator
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None or raw in self.last_page_strings:
            return super().get_page_number(request, paginator)
        if not raw.isdigit():
            raise exceptions.ValidationError({self.page_query_param: [_("Enter a page number.")]})
        return raw

    def get_page_size(self, request):
        # A bad page size is the client's mistake: say so instead of silently ignoring it.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {
                    self.page_size_query_param: [
                        _("Enter a whole number from 1 to %(max)s.") % {"max": self.max_page_size}
                    ]
                }
            )
        return int(raw)


class TokenClientThrottle(throttling.UserRateThrottle):
    """Integrations with a token are throttled; browser sessions are not."""

    scope = "token_client"

    def get_rate(self):
        from django.conf import settings

        return settings.API_TOKEN_RATE

    def allow_request(self, request, view):
        from crm.api_tokens import HashedTokenAuthentication

        if not isinstance(request.successful_authenticator, HashedTokenAuthentication):
            return True
        return super().allow_request(request, view)


ERROR_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "throttled",
}


def json_error(request, status: int, message: str):
    """The error shape for responses Django makes outside DRF (an unmatched /api/ URL)."""
    from django.http import JsonResponse

    return JsonResponse(
        {"code": ERROR_CODES.get(status, "error"), "message": message, "errors": {}}, status=status
    )


def exception_handler(exc, context):
    """Every API error has one shape: {"code", "message", "errors"}."""
    # Imported here: rest_framework.views imports this module's permission class.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    errors = {}
    if isinstance(exc, exceptions.ValidationError):
        message = _("Please correct the errors below.")
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        if list(errors) == ["non_field_errors"] and errors["non_field_errors"]:
            message = str(errors["non_field_errors"][0])
    else:
        message = str(data.get("detail", "")) if isinstance(data, dict) else str(data)
    code = ERROR_CODES.get(response.status_code, "error")
    if (
        isinstance(data, dict)
        and hasattr(data.get("detail"), "code")
        and response.status_code != 400
    ):
        code = data["detail"].code
    response.data = {"code": code, "message": message, "errors": errors}
    return response


class ClinicScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A related id that must belong to the request's clinic; others look nonexistent."""

    def get_queryset(self):
        return super().get_queryset().filter(clinic=self.context["request"].clinic)


class ClinicUserField(serializers.PrimaryKeyRelatedField):
    """A staff member of the request's clinic, by user id; with `roles`, an active member in
    one of them (a patient's doctor, their assistant)."""

    def __init__(self, *, roles=None, **kwargs):
        kwargs.setdefault("queryset", get_user_model().objects.all())
        self.roles = list(roles) if roles is not None else None
        super().__init__(**kwargs)

    def get_queryset(self):
        users = super().get_queryset().filter(memberships__clinic=self.context["request"].clinic)
        if self.roles is not None:
            users = users.filter(memberships__role__in=self.roles, is_active=True)
        return users

    def to_representation(self, value):
        return value.pk


ERROR_SCHEMA = {
    "type": "object",
    "description": "The one shape of every API error.",
    "properties": {
        "code": {"type": "string", "example": "invalid"},
        "message": {"type": "string", "description": "In the user's language."},
        "errors": {
            "type": "object",
            "description": "Field name → list of messages (empty unless code is `invalid`).",
            "additionalProperties": {},
        },
    },
    "required": ["code", "message", "errors"],
}
DOCUMENTED_ERRORS = {
    "400": "Invalid input",
    "403": "Not signed in, or your role may not do this",
    "404": "Not found (or belongs to another clinic)",
    "429": "Too many requests (token clients)",
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: document the error shape on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in DOCUMENTED_ERRORS.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
