"""Export initiatives in an inventory's column layout (OMB 2025), as CSV or XLSX.

An imported initiative exports what the source said (its raw cells), except where the
portfolio has since changed a mapped field: that column then carries the current value,
written the way the format spells it. So an export of an untouched import re-imports
as "unchanged", and an agency can produce its next inventory from the app.

Callers pass a queryset already scoped with ``Initiative.objects.visible_to(user)``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from governance.inventory.mapping import Mapping, norm
from portfolio.models import Initiative

_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _export_value(f, value: Any) -> str:
    if value is None:
        return ""
    key = str(value).lower() if isinstance(value, bool) else str(value)
    if f.export_values:
        return f.export_values.get(key, "")
    if f.type in ("choice", "bool", "list"):
        for raw, mapped in f.values.items():
            if mapped == value:
                return raw
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _current(initiative: Initiative, name: str) -> Any:
    value = getattr(initiative, name)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def initiative_rows(initiatives: Iterable[Initiative], mapping: Mapping) -> Iterable[list[str]]:
    columns = mapping.export_columns
    for ini in initiatives:
        data = ini.source_data or {}
        ours = data.get("format") == mapping.name
        raw = dict(data.get("raw", {})) if ours else {}
        parsed = data.get("parsed", {}) if ours else {}
        unit = ini.business_unit
        top = unit.parent if unit.parent_id else unit
        expected_child = unit.name if unit.parent_id else ""
        moved = parsed.get("unit") != top.code or norm(
            (parsed.get("child_unit") or "")[:200]
        ) != norm(expected_child)
        if not ours or moved:
            raw[mapping.unit_column] = top.code
            if mapping.unit_name_column:
                raw[mapping.unit_name_column] = top.name
            if mapping.child_column:
                raw[mapping.child_column] = unit.name if unit.parent_id else ""
        if not ours and mapping.key_columns:
            raw[mapping.key_columns[0]] = ini.code
        for name, f in mapping.fields.items():
            current = _current(ini, name)
            if ours and parsed.get(name) == current:
                continue
            if ours and name in ("summary", "problem") and (parsed.get(name) or "") == current:
                continue
            if (
                ours
                and name in ("build_or_buy",)
                and parsed.get(name) is None
                and current == "unknown"
            ):
                continue
            raw[f.column] = _export_value(f, current)
        yield [raw.get(c, "") or "" for c in columns]


def export_queryset(qs) -> Any:
    return qs.select_related("business_unit__parent").order_by("business_unit__code", "code")


def export_csv(initiatives: Iterable[Initiative], mapping: Mapping) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(mapping.export_columns)
    writer.writerows(initiative_rows(initiatives, mapping))
    # UTF-8 with a byte-order mark, like OMB's own file (Excel then reads it right).
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_xlsx(initiatives: Iterable[Initiative], mapping: Mapping) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(mapping.label[:31] or "Inventory")
    ws.append(mapping.export_columns)
    for row in initiative_rows(initiatives, mapping):
        cells = []
        for value in row:
            cell = WriteOnlyCell(ws, value=_ILLEGAL_XLSX.sub("", value))
            cell.data_type = "s"  # text, never a formula, whatever it starts with
            cells.append(cell)
        ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
