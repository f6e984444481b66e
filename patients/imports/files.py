"""Reading an uploaded patient file row by row: .xlsx (streamed, merged cells filled,
formulas kept as text) and CSV (UTF-8 with or without BOM, or GBK)."""

import csv
import io
from collections.abc import Iterator

from defusedxml.ElementTree import iterparse
from django.utils.translation import gettext as _
from openpyxl import load_workbook
from openpyxl.utils.cell import range_boundaries
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

from patients.imports.models import ImportBatch


class ImportFileError(Exception):
    """The file cannot be read at all (format, encoding, size): nothing is imported."""


class Formula(str):
    """A cell holding a formula: reported, never evaluated."""


def _is_xlsx(content: bytes, file_name: str) -> bool:
    return content[:4] == b"PK\x03\x04" or file_name.lower().endswith(".xlsx")


def _merged_ranges(workbook, sheet) -> list[tuple[int, int, int, int]]:
    """(min_col, min_row, max_col, max_row) of merged cells, read from the sheet's XML; the
    read-only worksheet streams rows and does not know them."""
    ranges = []
    with workbook._archive.open(sheet._worksheet_path) as xml:
        for _event, element in iterparse(xml):
            if element.tag.endswith("}mergeCell"):
                ranges.append(range_boundaries(element.get("ref")))
            elif element.tag.endswith("}row"):
                element.clear()  # keep memory flat on large sheets
    return ranges


def _xlsx_rows(content: bytes, merged_rows: set) -> Iterator[tuple[int, list]]:
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged or foreign file
        raise ImportFileError(_("This is not a readable .xlsx file.")) from exc
    sheet = workbook.worksheets[0]
    ranges = _merged_ranges(workbook, sheet)
    by_row: dict[int, list] = {}
    for bounds in ranges:
        for row in range(bounds[1], bounds[3] + 1):
            by_row.setdefault(row, []).append(bounds)
    anchors: dict[tuple, object] = {}
    for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
        values = list(values)
        for bounds in by_row.get(number, ()):
            min_col, min_row, max_col, _max_row = bounds
            if number == min_row:
                anchors[bounds] = values[min_col - 1] if len(values) >= min_col else None
            # A merged cell's value sits in its top-left cell; every cell it covers gets it.
            while len(values) < max_col:
                values.append(None)
            for col in range(min_col, max_col + 1):
                values[col - 1] = anchors.get(bounds)
            merged_rows.add(number)
        yield (
            number,
            [
                Formula(str(v.text if hasattr(v, "text") else v))
                if isinstance(v, ArrayFormula | DataTableFormula)
                else Formula(v)
                if isinstance(v, str) and v.startswith("=")
                else v
                for v in values
            ],
        )
    workbook.close()


def _decode(content: bytes) -> str:
    # Excel in China saves CSV as GBK; others save UTF-8, often with a BOM.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(_("The file's encoding is not UTF-8 or GBK; save it as CSV again."))


def _csv_rows(content: bytes) -> Iterator[tuple[int, list]]:
    text = _decode(content)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    for number, values in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
        yield number, [Formula(v) if v.startswith("=") else v for v in values]


def read_rows(batch: ImportBatch, merged_rows: set | None = None) -> Iterator[tuple[int, list]]:
    """Every row of the file as (spreadsheet row number, values)."""
    return read_file_rows(bytes(batch.content), batch.file_name, merged_rows)


def read_file_rows(
    content: bytes, file_name: str, merged_rows: set | None = None
) -> Iterator[tuple[int, list]]:
    """The same for a file not kept as a batch (the HIS drop folder, patients/his_import.py)."""
    merged_rows = merged_rows if merged_rows is not None else set()
    if _is_xlsx(content, file_name):
        return _xlsx_rows(content, merged_rows)
    if file_name.lower().endswith(".xls") or content[:4] == b"\xd0\xcf\x11\xe0":
        raise ImportFileError(_("Old .xls files cannot be read; save the sheet as .xlsx or CSV."))
    return _csv_rows(content)
