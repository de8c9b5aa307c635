"""Spreadsheets and CSV → Document: the rows of the first sheet (or the file) as cell strings.

Rows are kept as they are, title and blank rows included; the header is found by the expectation
that names its columns (evaluate.py), since ICE's list puts a title row above it. Cell values are
normalized so that a re-export (BOM, CRLF, quoting, date cells) reads the same.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

from pipeline.errors import ExtractError
from pipeline.extract.base import Document, Options, Row, decode
from pipeline.textnorm import clean

MAX_ROWS = 200_000
# a workbook expanding beyond this is refused (zip bomb); calamine holds the first sheet's cells
# in memory, about as many bytes as its XML (200,000 rows of 10 cells are ~60 MB of XML)
MAX_UNZIPPED = 96 * 1024**2
MAX_ZIP_RATIO = 200


def extract_xlsx(body: bytes, options: Options) -> Document:
    _check_zip(body)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(body))
    except Exception as exc:  # calamine's errors, and a zip that holds no workbook
        raise ExtractError(f"not a readable xlsx workbook: {type(exc).__name__}: {exc}") from None
    try:
        sheets = [m.name for m in workbook.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
        if not sheets:
            raise ExtractError("the workbook has no sheets")
        sheet = workbook.get_sheet_by_name(sheets[0])
        # columns from A, as the sheet has them (calamine starts at the first filled cell)
        pad = ("",) * (sheet.start[1] if sheet.start else 0)
        rows = _bounded(pad + tuple(_cell(v) for v in row) for row in sheet.iter_rows())
    except CalamineError as exc:
        raise ExtractError(f"not a readable xlsx workbook: {type(exc).__name__}: {exc}") from None
    finally:
        workbook.close()
    return _document("xlsx", rows)


def extract_csv(body: bytes, options: Options) -> Document:
    text = decode(body, options.charset)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], ",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = _bounded(tuple(clean(c) for c in r) for r in csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise ExtractError(f"malformed CSV: {exc}") from None
    return _document("csv", rows)


def _document(kind: str, rows: list[Row]) -> Document:
    rows = [_trim(r) for r in rows]
    rows = [r for r in rows if r]
    if not rows:
        raise ExtractError(f"the {kind} file holds no rows")
    blocks = tuple(" | ".join(r) for r in rows)
    return Document(kind, blocks=blocks, tables=(tuple(rows),))


def _bounded(rows: object) -> list[Row]:
    out: list[Row] = []
    for row in rows:  # type: ignore[attr-defined]
        out.append(row)
        if len(out) > MAX_ROWS:
            raise ExtractError(f"more than {MAX_ROWS:,} rows: refused")
    return out


def _trim(row: Row) -> Row:
    end = len(row)
    while end and not row[end - 1]:
        end -= 1
    return row[:end]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return clean(str(value))


def _check_zip(body: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError):
        raise ExtractError("not an xlsx workbook (not a zip archive)") from None
    expanded = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if expanded > MAX_UNZIPPED or (expanded > 16 * 1024**2 and expanded / packed > MAX_ZIP_RATIO):
        raise ExtractError(f"workbook expands to {expanded / 1024**2:.0f} MB "
                           f"({expanded / packed:.0f}x): refused as a zip bomb")
