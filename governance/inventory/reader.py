"""Turn an uploaded file into a header and rows of strings.

Copes with what real spreadsheets carry: UTF-8 with or without a byte-order mark,
Windows-1252, UTF-16 with a BOM, quoted cells that span lines, a title or blank rows
above the header, ``;`` or tab separators, XLSX workbooks, repeated and blank headers,
NUL characters; and JSON or JSON Lines records (nested keys flattened with ``.``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

XLSX_MAGIC = b"PK\x03\x04"


class InventoryFileError(ValueError):
    """The file cannot be read at all (not a row problem): message for the user."""


@dataclass
class Table:
    #: one unique key per column: the header, ``header (2)`` for its second occurrence,
    #: ``column 7`` for a column without a header
    headers: list[str]
    #: (spreadsheet row number, {key: raw cell}) for every non-blank row below the header
    rows: list[tuple[int, dict[str, str]]]
    encoding: str
    header_row: int
    blank_rows: int = 0
    #: the header texts as the file spells them, by position
    original: list[str] = field(default_factory=list)
    #: NUL characters removed from cells (PostgreSQL text cannot hold them)
    nul_removed: int = 0


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
    except InventoryFileError:
        raise
    except Exception as exc:  # a damaged sheet inside a readable zip
        raise InventoryFileError(f"This XLSX workbook cannot be read ({exc}).") from exc
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


def find_column(headers: list[str], ref, aliases: dict[str, list[str]]) -> int | None:
    """The position of ``ref`` (a ``ColumnRef``) among ``headers`` (normalised header
    texts): its name or an alias, exactly or as a prefix, the ``occurrence``-th one."""
    names = [normalise_header(n) for n in (ref.name, *aliases.get(ref.name, []))]
    names = [n for n in names if n]
    seen = 0
    for i, header in enumerate(headers):
        if not header:
            continue
        hit = any(header.startswith(n) for n in names) if ref.prefix else header in names
        if hit:
            seen += 1
            if seen == ref.occurrence:
                return i
    return None


def _find_header(grid, required, aliases, scan_rows: int) -> int | None:
    for i, row in enumerate(grid[:scan_rows]):
        found = [normalise_header(c) for c in row]
        if all(find_column(found, ref, aliases) is not None for ref in required):
            return i
    return None


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flatten(record: Any, prefix: str = "", out: dict[str, str] | None = None) -> dict[str, str]:
    out = {} if out is None else out
    if isinstance(record, dict):
        for k, v in record.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                _flatten(v, key, out)
            else:
                out[key] = _scalar(v)
    else:
        out[prefix or "value"] = _scalar(record)
    return out


def _json_grid(text: str, *, lines: bool, records: str | None) -> list[list[str]]:
    """JSON (an array of objects, or the array at the ``records`` path) or JSON Lines
    (one object per line) as a grid whose first row is the union of the flattened keys."""
    if lines:
        items = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except (ValueError, RecursionError) as exc:
                raise InventoryFileError(f"Line {n} is not a JSON object: {exc}.") from exc
    else:
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InventoryFileError(f"The file is not valid JSON: {exc}.") from exc
        items = doc
        for part in [p for p in (records or "").split(".") if p]:
            if not isinstance(items, dict) or part not in items:
                raise InventoryFileError(
                    f"The JSON has no {records!r}: no key {part!r} on the way (the mapping's "
                    "'records' path)."
                )
            items = items[part]
        if isinstance(items, dict):
            lists = [k for k, v in items.items() if isinstance(v, list)]
            raise InventoryFileError(
                "The JSON holds an object, not a list of records: say where the records are "
                "with the mapping's 'records' key"
                + (f" (lists found: {', '.join(lists[:5])})." if lists else ".")
            )
    if not isinstance(items, list):
        raise InventoryFileError("The JSON records are not a list.")
    flat = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InventoryFileError(f"Record {i} is not an object (got {_scalar(item)[:40]!r}).")
        flat.append(_flatten(item))
    keys: dict[str, None] = {}
    for rec in flat:
        keys.update(dict.fromkeys(rec))
    header = list(keys)
    return [header, *([rec.get(k, "") for k in header] for rec in flat)]


def _is_json(data: bytes, filename: str) -> str | None:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not name.endswith((".csv", ".txt", ".tsv")) and head[:1] in (b"[", b"{"):
        return "jsonl" if head[:1] == b"{" and b"\n{" in data[:200000] else "json"
    return None


def unique_headers(headers: list[str]) -> list[str]:
    """A key per column: repeated headers get `` (2)``, `` (3)``; blank ones ``column N``."""
    out, counts = [], {}
    for i, h in enumerate(headers):
        h = (h or "").replace("\ufeff", "").replace("\x00", "").strip()
        if not h:
            out.append(f"column {i + 1}")
            continue
        counts[h] = counts.get(h, 0) + 1
        out.append(h if counts[h] == 1 else f"{h} ({counts[h]})")
    return out


def read_table(
    data: bytes,
    *,
    filename: str = "",
    required_columns: list,
    aliases: dict[str, list[str]] | None = None,
    scan_rows: int = 20,
    sheet: str | None = None,
    records: str | None = None,
) -> Table:
    """Read ``data`` and find the header: the first row (within ``scan_rows``) holding every
    required column (``ColumnRef`` or plain names; by name or alias, ignoring case and
    spacing). JSON input has its keys as the header."""
    from governance.inventory.mapping import ColumnRef

    if not data:
        raise InventoryFileError("The file is empty.")
    aliases = aliases or {}
    required = [r if isinstance(r, ColumnRef) else ColumnRef(r) for r in required_columns]
    header_index = None
    json_kind = _is_json(data, filename)
    if data.startswith(XLSX_MAGIC) or filename.lower().endswith((".xlsx", ".xlsm")):
        grid = _xlsx_rows(data, sheet)
        encoding = "xlsx"
        header_index = _find_header(grid, required, aliases, scan_rows)
    elif json_kind:
        text, encoding = decode(data)
        grid = _json_grid(text, lines=json_kind == "jsonl", records=records)
        encoding = f"{json_kind} ({encoding})"
        header_index = _find_header(grid, required, aliases, 1)
    else:
        text, encoding = decode(data)
        for grid in _csv_grids(text):
            header_index = _find_header(grid, required, aliases, scan_rows)
            if header_index is not None:
                break
    if header_index is None:
        names = ", ".join(r.key for r in required)
        where = "in the records" if json_kind else f"in the first {scan_rows} rows"
        raise InventoryFileError(f"No header row found {where}: expected the columns {names}.")
    original = [(c or "").replace("\ufeff", "").strip() for c in grid[header_index]]
    headers = unique_headers(original)
    rows: list[tuple[int, dict[str, str]]] = []
    blank = 0
    nul = 0
    width = len(headers)
    for offset, raw in enumerate(grid[header_index + 1 :], start=header_index + 2):
        if not any((c or "").strip() for c in raw):
            blank += 1
            continue
        record = {}
        for i, value in enumerate(raw[:width]):
            value = value or ""
            if "\x00" in value:
                nul += value.count("\x00")
                value = value.replace("\x00", "")
            if not original[i] and not value.strip():
                continue  # a column without a header: kept only where it holds something
            record[headers[i]] = _unmark(value)
        for h in headers[len(raw) :]:
            if not h.startswith("column "):
                record[h] = ""
        if len(raw) > width and any((c or "").strip() for c in raw[width:]):
            extra = "\t".join(raw[width:])
            nul += extra.count("\x00")
            record["__extra__"] = extra.replace("\x00", "")
        rows.append((offset, record))
    return Table(
        headers=headers,
        rows=rows,
        encoding=encoding,
        header_row=header_index + 1,
        blank_rows=blank,
        original=original,
        nul_removed=nul,
    )


_MARKED = ("'=", "'+", "'-", "'@", "'\t", "'\r")


def _unmark(value: str) -> str:
    """A cell our own export neutralised (``'=HYPERLINK(...)``) reads back as it was."""
    return value[1:] if value.startswith(_MARKED) else value
