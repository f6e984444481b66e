"""Input that no page or endpoint can use is refused at the door with a clear 400, never a 500:
NUL and control characters in the path, the query string or a form field, JSON nested deeper
than REQUEST_MAX_JSON_DEPTH or carrying such characters, dates outside 1900–2100. Also the log
filter that keeps search terms out of the access log."""

import logging
import re
from datetime import date
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# C0 controls and DEL, but tab, line feed and carriage return (text areas send those).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Dates a person can mean in a clinic: older is a typo, later overflows date arithmetic
# (a care plan's day 0 in 9999 plus its steps' offsets).
EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)


# Paths whose clients read JSON: the API and the FHIR endpoints (integrations, not browsers).
JSON_PATHS = ("/api/", "/fhir/")


def bad_request(request, message: str):
    if request.path.startswith(JSON_PATHS):
        from crm.api import json_error

        return json_error(request, 400, message)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        message = self.refusal(request)
        if message:
            return bad_request(request, message)
        return self.get_response(request)

    @staticmethod
    def refusal(request) -> str:
        raw_query = request.META.get("QUERY_STRING", "")
        if CONTROL.search(request.path) or CONTROL.search(unquote(raw_query, errors="replace")):
            return _("The address contains characters that are not allowed.")
        for name in request.headers:
            # Our own search header arrives percent-encoded (patients.filters).
            value = request.headers[name]
            if name.lower() == "x-search":
                value = unquote(value, errors="replace")
            if CONTROL.search(value):
                return _("The request contains characters that are not allowed.")
        content_type = request.META.get("CONTENT_TYPE", "")
        if request.method == "POST" and content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            try:
                fields = request.POST
            except Exception:  # a malformed multipart body: Django's own refusal
                return _("The form could not be read.")
            for key, values in fields.lists():
                if CONTROL.search(key) or any(CONTROL.search(v) for v in values):
                    return _("A field contains characters that are not allowed.")
        return ""


def check_json(value, *, max_depth: int) -> None:
    """Raise ParseError if `value` nests deeper than max_depth or has control characters."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ParseError(_("The JSON is nested too deeply."))
        if isinstance(item, str):
            if CONTROL.search(item):
                raise ParseError(_("The JSON contains characters that are not allowed."))
        elif isinstance(item, dict):
            for key, child in item.items():
                if CONTROL.search(key):
                    raise ParseError(_("The JSON contains characters that are not allowed."))
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


class GuardedJSONParser(JSONParser):
    """DRF's JSON parser, refusing what the database or Python's recursion cannot take."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(_("The JSON is nested too deeply.")) from exc
        check_json(data, max_depth=settings.REQUEST_MAX_JSON_DEPTH)
        return data


def date_in_range(value: date) -> None:
    """A model or serializer validator: a date from 1900 to 2100."""
    if value is not None and not EARLIEST <= value <= LATEST:
        raise ValidationError(
            _("Enter a date from %(start)s to %(end)s.")
            % {"start": EARLIEST.isoformat(), "end": LATEST.isoformat()}
        )


SEARCH_PARAM = re.compile(r"([?&](?:q|search)=)[^&\s\"]*")


class RedactSearchTerms(logging.Filter):
    """Replace the value of `q` (and `search`) in a logged request line with `[redacted]`."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:
            return True
        if "q=" in message or "search=" in message:
            record.msg = SEARCH_PARAM.sub(r"\1[redacted]", message)
            record.args = ()
        return True
