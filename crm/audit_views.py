"""The admins' audit log page (/settings/audit/): filters, pages, and a CSV export that is
itself audited. Other roles get 403."""

import csv
import json

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.audit import audit_record
from crm.guards import date_in_range
from crm.models import AuditAction, AuditEvent
from crm.tenancy import clinic_member_required

PAGE_SIZE = 50


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(
        choices=AuditAction.choices, label=pgettext_lazy("audit log", "Action")
    )
    user = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.none(), label=_("Staff member")
    )
    start = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__gte",
        label=_("From"),
        validators=[date_in_range],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    end = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__lte",
        label=_("To"),
        validators=[date_in_range],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    patient = django_filters.NumberFilter(
        method="filter_patient", label=_("Patient id"), min_value=1
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "user", "start", "end", "patient"]

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["user"].queryset = (
            get_user_model().objects.filter(memberships__clinic=clinic).order_by("username")
        )
        for name, field in self.form.fields.items():
            css = "form-select" if name in ("action", "user") else "form-control"
            field.widget.attrs.setdefault("class", css)
        self.filters["user"].field.label_from_instance = lambda user: next(
            (m.name for m in user.memberships.all()), user.get_username()
        )

    def filter_patient(self, queryset, name, value):
        return queryset.filter(object_type="patient", object_id=str(int(value)))


def _names(clinic) -> dict:
    return {m.user_id: m.name for m in clinic.memberships.select_related("user")}


def _rows(events, names):
    yield ["time", "staff member", "action", "object", "detail", "IP address"]
    for event in events.iterator(chunk_size=2000):
        yield [
            timezone.localtime(event.created_at).strftime("%Y-%m-%d %H:%M:%S"),
            names.get(event.user_id, "") if event.user_id else "",
            event.get_action_display(),
            f"{event.object_type}:{event.object_id}" if event.object_type else "",
            _csv_safe(json.dumps(event.detail or {}, ensure_ascii=False)),
            event.ip_address or "",
        ]


def _csv_safe(text: str) -> str:
    """Text a spreadsheet shows as text (as patients.exports.neutralise; crm cannot import it)."""
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


class _Echo:
    def write(self, value):
        return value


@clinic_member_required(capability="manage_clinic")
def audit_log(request):
    clinic = request.clinic
    events = AuditEvent.objects.filter(clinic=clinic).order_by("-created_at", "-id")
    filterset = AuditEventFilter(request.GET or None, queryset=events, clinic=clinic)
    valid = filterset.is_valid() if request.GET else True
    events = filterset.qs if valid else events.none()
    names = _names(clinic)
    if valid and request.GET.get("export") == "csv":
        filters = {k: v for k, v in request.GET.items() if k not in ("export", "page")}
        audit_record(
            clinic_id=clinic.pk,
            user=request.user,
            action=AuditAction.AUDIT_EXPORT,
            object_type="audit",
            detail={"filters": filters, "count": events.count()},
            request=request,
        )
        writer = csv.writer(_Echo())

        def stream():
            yield "\ufeff".encode()
            for row in _rows(events, names):
                yield writer.writerow(row).encode("utf-8")

        response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        return response
    paginator = Paginator(events.select_related("user"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    for event in page:
        event.who = names.get(event.user_id, "") if event.user_id else ""
    query = request.GET.copy()
    query.pop("page", None)
    response = render(
        request,
        "crm/audit_log.html",
        {"filter": filterset, "page": page, "query": query.urlencode(), "valid": valid},
    )
    response["Cache-Control"] = "no-store"
    return response
