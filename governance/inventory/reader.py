"""Turn an uploaded file into a header and rows of strings.

Copes with what real spreadsheets carry: UTF-8 with or without a byte-order mark,
Windows-1252, UTF-16 with a BOM, quoted cells that span lines, a title or blank rows
above the header, ``;`` or tab separators, and XLSX workbooks.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

XLSX_MAGIC = b"PK\x03\x04"


class InventoryFileError(ValueError):
    """The file cannot be read at all (not a row problem): message for the user."""


@dataclass
class Table:
    headers: list[str]
    #: (spreadsheet row number, {header: raw cell}) for every non-blank row below the header
    rows: list[tuple[int, dict[str, str]]]
    encoding: str
    header_row: int
    blank_rows: int = 0
    #: mapping column name -> header actually found in the file
    columns: dict[str, str] = field(default_factory=dict)


_SPACE_RE = re.compile(r"\s+")


def normalise_header(text: str) -> str:
    text = (text or "").replace("\ufeff", "").replace("\xa0", " ")
    return _SPACE_RE.sub(" ", text).strip().casefold()


def decode(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name). BOMs win; then strict UTF-8; then Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; latin-1 maps every byte.
        return data.decode("latin-1"), "latin-1"


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def _xlsx_rows(data: bytes, sheet: str | None) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken zip
        raise InventoryFileError(f"This is not a readable XLSX workbook ({exc}).") from exc
    try:
        if sheet:
            if sheet not in wb.sheetnames:
                raise InventoryFileError(
                    f"The workbook has no sheet {sheet!r} (it has {', '.join(wb.sheetnames)})."
                )
            ws = wb[sheet]
        else:
            ws = wb.worksheets[0]
        return [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _csv_grids(text: str) -> Iterable[list[list[str]]]:
    """The text parsed with the sniffed separator first, then the usual others; the
    caller keeps the first grid in which it finds the header."""
    delimiters = [",", ";", "\t"]
    with contextlib.suppress(csv.Error):
        sniffed = csv.Sniffer().sniff(text[:20000], delimiters=",;\t").delimiter
        delimiters.remove(sniffed)
        delimiters.insert(0, sniffed)
    for delimiter in delimiters:
        try:
            yield list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False))
        except csv.Error as exc:
            raise InventoryFileError(f"The CSV file cannot be parsed: {exc}.") from exc


def _find_header(grid, wanted: dict[str, set[str]], scan_rows: int) -> int | None:
    for i, row in enumerate(grid[:scan_rows]):
        found = {normalise_header(c) for c in row}
        if all(found & names for names in wanted.values()):
            return i
    return None


def read_table(
    data: bytes,
    *,
    filename: str = "",
    required_columns: list[str],
    aliases: dict[str, list[str]] | None = None,
    scan_rows: int = 20,
    sheet: str | None = None,
) -> Table:
    """Read ``data`` and find the header: the first row (within ``scan_rows``) holding every
    required column (by name or alias, ignoring case and spacing)."""
    if not data:
        raise InventoryFileError("The file is empty.")
    wanted: dict[str, set[str]] = {}
    for name in required_columns:
        wanted[name] = {normalise_header(name)} | {
            normalise_header(a) for a in (aliases or {}).get(name, [])
        }
    header_index = None
    if data.startswith(XLSX_MAGIC) or filename.lower().endswith((".xlsx", ".xlsm")):
        grid = _xlsx_rows(data, sheet)
        encoding = "xlsx"
        header_index = _find_header(grid, wanted, scan_rows)
    else:
        text, encoding = decode(data)
        for grid in _csv_grids(text):
            header_index = _find_header(grid, wanted, scan_rows)
            if header_index is not None:
                break
    if header_index is None:
        raise InventoryFileError(
            "No header row found in the first "
            f"{scan_rows} rows: expected the columns {', '.join(required_columns)}."
        )
    headers = [(c or "").replace("\ufeff", "").strip() for c in grid[header_index]]
    rows: list[tuple[int, dict[str, str]]] = []
    blank = 0
    width = len(headers)
    for offset, raw in enumerate(grid[header_index + 1 :], start=header_index + 2):
        if not any((c or "").strip() for c in raw):
            blank += 1
            continue
        cells = list(raw) + [""] * (width - len(raw))
        record = {}
        for h, value in zip(headers, cells, strict=False):
            if h and h not in record:
                record[h] = value if value is not None else ""
        if len(raw) > width and any((c or "").strip() for c in raw[width:]):
            record["__extra__"] = "\t".join(raw[width:])
        rows.append((offset, record))
    return Table(
        headers=[h for h in headers if h],
        rows=rows,
        encoding=encoding,
        header_row=header_index + 1,
        blank_rows=blank,
    )
