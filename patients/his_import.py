"""The HIS's recurring visit file (CSV or .xlsx, read by the patient import's reader): one row a
visit, a header row first; each row goes through `his_visits_ingest`, so a file dropped twice
records its visits once. Problems are reported per spreadsheet row, in Chinese."""

from django.utils.translation import gettext as _

from patients.his import his_visits_ingest
from patients.imports.files import ImportFileError, read_file_rows
from patients.imports.services import _normalise_header, _row_message, _text
from patients.models import Visit

HEADERS = {
    "his_visit_id": ["his_visit_id", "就诊编号", "就诊号", "visitid"],
    "his_patient_id": ["his_patient_id", "患者编号", "病历号", "patientid"],
    "phone": ["phone", "手机号", "手机", "电话"],
    "visit_date": ["visit_date", "就诊日期", "日期", "date"],
    "kind": ["kind", "就诊类型", "类型"],
    "amount": ["amount", "金额", "费用"],
    "notes": ["notes", "备注"],
}
KINDS = {"初诊": Visit.Kind.FIRST, "复诊": Visit.Kind.REVISIT, "复查": Visit.Kind.RE_EXAM}


def his_visits_import_file(*, clinic, content: bytes, file_name: str, actor=None) -> dict:
    """Import one file; the answer is his_visits_ingest's plus `messages`, one line a problem."""
    try:
        rows = list(read_file_rows(content, file_name))
    except ImportFileError as exc:
        return {"created": 0, "updated": 0, "unchanged": 0, "messages": [str(exc)]}
    rows = [(n, values) for n, values in rows if any(_text(v) for v in values)]
    if not rows:
        return {"created": 0, "updated": 0, "unchanged": 0, "messages": [_("The file is empty.")]}
    header = [_normalise_header(_text(v)) for v in rows[0][1]]
    columns = {}
    for field, names in HEADERS.items():
        for name in names:
            if _normalise_header(name) in header:
                columns[field] = header.index(_normalise_header(name))
                break
    missing = [f for f in ("his_visit_id", "visit_date") if f not in columns]
    if missing or not ({"phone", "his_patient_id"} & set(columns)):
        return {
            "created": 0,
            "updated": 0,
            "unchanged": 0,
            "messages": [
                _(
                    "The header row needs 就诊编号 (his_visit_id), 就诊日期 (visit_date) and "
                    "手机号 (phone) or 患者编号 (his_patient_id)."
                )
            ],
        }
    numbers, records = [], []
    for number, values in rows[1:]:
        record = {f: _text(values[i]) if i < len(values) else "" for f, i in columns.items()}
        record["kind"] = KINDS.get(record.get("kind", ""), record.get("kind") or "")
        numbers.append(number)
        records.append(record)
    result = his_visits_ingest(clinic=clinic, rows=records, actor=actor)
    messages = [
        _row_message(numbers[item["row"] - 1], [item["error"]])
        for item in sorted(result.pop("errors") + result.pop("unmatched"), key=lambda i: i["row"])
    ]
    return {**result, "messages": messages}
