"""The import pages: upload → mapping and preview → dry run → commit → report.
The work is in patients/imports/services.py; these views only read forms and show results."""

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.tenancy import clinic_member_required, get_for_clinic
from patients.exports import neutralise
from patients.imports import services as imports
from patients.imports.commit import import_commit_request
from patients.imports.models import ImportBatch

SHOWN_RESULTS = 200


@clinic_member_required(capability="import_patients")
@require_http_methods(["GET", "POST"])
def import_upload(request):
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a file to upload.")
        else:
            try:
                batch = imports.import_create(
                    clinic=request.clinic, user=request.user, upload=upload
                )
            except imports.ImportFileError as exc:
                error = str(exc)
            else:
                return redirect("patients:import_review", pk=batch.pk)
    recent = ImportBatch.objects.filter(clinic=request.clinic).defer("content", "results")[:10]
    return render(
        request,
        "patients/import_upload.html",
        {"error": error, "recent": recent, "fields": imports.import_fields(request.clinic)},
        status=400 if error else 200,
    )


def _mapping_from(post, header, clinic) -> tuple[dict, list[str]]:
    mapping, errors = {}, []
    for field, _label, _aliases in imports.import_fields(clinic):
        raw = post.get(f"map_{field}", "")
        mapping[field] = int(raw) if raw.isdigit() and int(raw) < len(header) else None
    if mapping["name"] is None:
        errors.append(_("Choose the column that holds the name."))
    used = [i for i in mapping.values() if i is not None]
    if len(used) != len(set(used)):
        errors.append(_("Each column can be used for one field only."))
    return mapping, errors


@clinic_member_required(capability="import_patients")
@require_http_methods(["GET", "POST"])
def import_review(request, pk):
    batch = get_for_clinic(ImportBatch.objects, request.clinic, pk=pk)
    errors = []
    busy = (ImportBatch.Status.IMPORTING, ImportBatch.Status.COMMITTED)
    if request.method == "POST" and batch.status not in busy:
        if request.POST.get("action") == "commit":
            try:
                batch = import_commit_request(
                    batch=batch, actor=request.user, ip_address=request.META.get("REMOTE_ADDR")
                )
            except ValidationError as exc:
                errors = exc.messages
            else:
                return redirect("patients:import_review", pk=batch.pk)
        else:
            mapping, errors = _mapping_from(request.POST, batch.header, request.clinic)
            batch.mapping = mapping
            if request.POST.get("on_duplicate") in ImportBatch.OnDuplicate.values:
                batch.on_duplicate = request.POST["on_duplicate"]
            if not errors:
                batch.status = ImportBatch.Status.UPLOADED
                batch.save(update_fields=["mapping", "on_duplicate", "status"])
                try:
                    imports.import_check(batch=batch)
                except imports.ImportFileError as exc:
                    errors = [str(exc)]
                else:
                    return redirect("patients:import_review", pk=batch.pk)
    if batch.status == ImportBatch.Status.COMMITTED and request.GET.get("done"):
        messages.success(
            request,
            _("Imported: %(create)s new, %(merge)s merged, %(skip)s skipped.")
            % batch.summary["committed"],
        )
    errors = errors or batch.summary.get("commit_errors", [])
    shown = [
        [number, imports.OUTCOMES.get(outcome, outcome), name, phone, message, outcome]
        for number, outcome, name, phone, message in batch.results
        if outcome != "create"
    ][:SHOWN_RESULTS]
    return render(
        request,
        "patients/import_review.html",
        {
            "batch": batch,
            "header": list(enumerate(batch.header)),
            "preview": batch.preview,
            "fields": [
                (field, label, batch.mapping.get(field))
                for field, label, _a in imports.import_fields(request.clinic)
            ],
            "errors": errors,
            "shown_results": shown,
            "more_results": max(
                0, len([r for r in batch.results if r[1] != "create"]) - SHOWN_RESULTS
            ),
            "can_commit": batch.status == ImportBatch.Status.CHECKED
            and not batch.summary.get("error"),
        },
        status=400 if errors and request.method == "POST" else 200,
    )


class _Echo:
    def write(self, value):
        return value


@clinic_member_required(capability="import_patients")
def import_report(request, pk):
    batch = get_for_clinic(ImportBatch.objects, request.clinic, pk=pk)
    writer = csv.writer(_Echo())

    def stream():
        yield "\ufeff".encode()
        for row in imports.report_rows(batch):
            yield writer.writerow([neutralise(v) for v in row]).encode("utf-8")

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-report.csv"'
    return response
