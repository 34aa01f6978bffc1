"""Export initiatives in an inventory's column layout (any mapping's), as CSV or XLSX.

The export is the app's current state written the way the format spells it: an imported
initiative keeps the source's own words (its raw cells) wherever they still say what the
portfolio holds; a field changed in the app since (a stage, a risk assessment, an
attestation) is written from the app, through the mapping's ``export_values`` or its
``values`` table read backwards. Initiatives never imported export the same way, from
their fields, current risk assessment and attestations. So an export of an untouched
import re-imports as "unchanged", and an organisation can produce its next inventory
from the app.

Every text cell goes through ``portfolio.exports.neutralise_formula`` (CSV and XLSX).
Callers pass a queryset already scoped with ``Initiative.objects.visible_to(user)``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from typing import Any

from django.db.models import Prefetch

from governance.inventory.mapping import Field, Mapping, norm
from governance.models import ControlAttestation, RiskAssessment
from portfolio.exports import neutralise_formula
from portfolio.models import Initiative

_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_RISK_MODEL = {"us_high_impact": "us_high_impact", "us_justification": "us_justification"}
_RISK_MODEL["tier"] = "eu_tier"
_DEPTH = 4  # unit levels followed up the tree


def _export_value(f: Field, value: Any) -> str:
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
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _said(f: Field, raw_cell: str, placeholders) -> Any:
    """What the source's cell says, parsed as the importer would."""
    if f.is_blank(raw_cell or "", placeholders):
        return None
    value, unmapped = f.parse(raw_cell or "", placeholders)
    return None if (unmapped and value == f.blank) else value


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _chain(unit) -> list:
    """The unit's path from its top-level unit down."""
    path = [unit]
    for _ in range(_DEPTH):
        parent = path[0].parent if path[0].parent_id else None
        if parent is None:
            break
        path.insert(0, parent)
    return path


def _put(raw: dict, written: set, ours: bool, f: Field, current: Any, ph) -> None:
    """Write ``current`` into the field's column, unless the source's words still say it."""
    if not f.columns or f.constant is not None:
        return
    col = f.columns[0].key
    if col in written:
        return  # two fields read one column: the first one writes it
    written.add(col)
    said = _said(f, raw.get(col, ""), ph) if ours else None
    if ours and said is not None and said == _json_value(current):
        return
    if ours and said is None and current in (None, "", "unknown", "unassessed"):
        return
    raw[col] = _export_value(f, current)


def initiative_rows(initiatives: Iterable[Initiative], mapping: Mapping) -> Iterable[list[str]]:
    columns = mapping.layout()
    ph = mapping.placeholders
    for ini in initiatives:
        data = ini.source_data or {}
        ours = data.get("format") == mapping.name
        raw = dict(data.get("raw", {})) if ours else {}
        parsed = data.get("parsed", {}) if ours else {}
        path = _chain(ini.business_unit)
        top = path[0]
        levels = mapping.unit_levels if mapping.unit_constant is None else []
        unit_cells = [top.code, *(u.name for u in path[1:])] if levels else []
        moved = parsed.get("unit") != top.code or norm(parsed.get("child_unit") or "") != norm(
            " / ".join(u.name for u in path[1:])
        )
        if not ours or moved:
            for i, ref in enumerate(levels):
                raw[ref.key] = unit_cells[i] if i < len(unit_cells) else ""
            if mapping.unit_name_column:
                raw[mapping.unit_name_column.key] = top.name
        if not ours and mapping.key_columns:
            raw[mapping.key_columns[0].key] = ini.code
        written: set[str] = set()

        def put(f: Field, current: Any, raw=raw, ours=ours, written=written) -> None:
            _put(raw, written, ours, f, current, ph)

        for name, f in mapping.fields.items():
            if name == "stage_entered_on":
                continue
            put(f, getattr(ini, name))
        risks = getattr(ini, "live_risks", None)
        ra = risks[0] if risks else None
        for name, f in mapping.risk_fields.items():
            if name in _RISK_MODEL:
                put(f, getattr(ra, _RISK_MODEL[name]) if ra is not None else None)
        attestations = {a.control.code: a for a in getattr(ini, "inventory_attestations", [])}
        for control in mapping.controls:
            a = attestations.get(control.code)
            if a is None:
                continue
            f = control.field
            if f.type == "text":
                put(f, a.evidence if a.status == ControlAttestation.Status.ATTESTED else None)
            else:
                put(f, a.status)
        yield [clean_cell(raw.get(c, "")) for c in columns]


def clean_cell(value: Any) -> str:
    return "" if value is None else str(value)


def export_queryset(qs) -> Any:
    live = (RiskAssessment.Status.CURRENT, RiskAssessment.Status.REOPENED)
    related = "business_unit" + "__parent" * _DEPTH
    return (
        qs.select_related(related)
        .prefetch_related(
            Prefetch(
                "risk_assessments",
                queryset=RiskAssessment.objects.filter(status__in=live).order_by("-id"),
                to_attr="live_risks",
            ),
            Prefetch(
                "attestations",
                queryset=ControlAttestation.objects.select_related("control"),
                to_attr="inventory_attestations",
            ),
        )
        .order_by("business_unit__code", "code")
    )


def export_csv(initiatives: Iterable[Initiative], mapping: Mapping) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([neutralise_formula(c) for c in mapping.layout()])
    for row in initiative_rows(initiatives, mapping):
        writer.writerow([neutralise_formula(v) for v in row])
    # UTF-8 with a byte-order mark, like OMB's own file (Excel then reads it right).
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_xlsx(initiatives: Iterable[Initiative], mapping: Mapping) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(mapping.label[:31] or "Inventory")

    def text_cells(values: list[str]) -> list:
        cells = []
        for value in values:
            cell = WriteOnlyCell(ws, value=neutralise_formula(_ILLEGAL_XLSX.sub("", value)))
            cell.data_type = "s"  # text, never a formula, whatever it starts with
            cells.append(cell)
        return cells

    ws.append(text_cells(mapping.layout()))
    for row in initiative_rows(initiatives, mapping):
        ws.append(text_cells(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
