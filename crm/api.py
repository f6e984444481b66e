"""The API's pattern, set once: clinic scoping, role checks, one error shape, paging."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination, permissions, serializers, throttling
from rest_framework.authentication import TokenAuthentication

from crm.tenancy import membership_for_request


class IsClinicMember(permissions.BasePermission):
    """Signed in and a member of a clinic; sets request.clinic and request.membership.

    Views may narrow it with `allowed_roles` (every method) or `write_roles`
    (unsafe methods only).
    """

    message = "You are not a member of a clinic."

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        membership = membership_for_request(request)
        if membership is None:
            return False
        allowed = getattr(view, "allowed_roles", None)
        if allowed and membership.role not in allowed:
            return False
        write_roles = getattr(view, "write_roles", None)
        if write_roles and request.method not in permissions.SAFE_METHODS:
            return membership.role in write_roles
        return True


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


class TokenClientThrottle(throttling.UserRateThrottle):
    """Integrations with a token are throttled; browser sessions are not."""

    scope = "token_client"

    def allow_request(self, request, view):
        if not isinstance(request.successful_authenticator, TokenAuthentication):
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
    """A staff member of the request's clinic, by user id."""

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", get_user_model().objects.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        return super().get_queryset().filter(memberships__clinic=self.context["request"].clinic)

    def to_representation(self, value):
        return value.pk
