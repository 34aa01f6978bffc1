"""The declarative mapping from an inventory's columns to the portfolio.

A mapping is a TOML or JSON document (see ``mappings/README.md``); the OMB 2025 format
ships as ``formats/omb-2025.toml`` and is read by the same loader, so a new inventory
format needs a file, not code. ``load_mapping`` validates the document and returns a
``Mapping``; its fields know how to parse one raw cell each.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS_DIR = Path(__file__).with_name("formats")
BUILTIN_FORMATS = {"omb-2025": FORMATS_DIR / "omb-2025.toml"}

#: Initiative fields a mapping may fill, and the kind of value each takes.
INITIATIVE_FIELDS = {
    "name": "text",
    "summary": "text",
    "problem": "text",
    "stage": "choice",
    "started_on": "date",
    "build_or_buy": "choice",
    "integration_depth": "choice",
    "risk_tier": "choice",
    "uses_pii": "bool",
    "uses_demographics": "bool",
}
RISK_FIELDS = {"us_high_impact": "bool", "us_justification": "text", "eu_tier": "choice"}
ATTESTATION_STATUSES = ("attested", "not_met", "not_applicable", "in_progress")
TYPES = ("text", "choice", "bool", "date", "list")

_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2011": "-", "\u2212": "-"})
_LETTER_RE = re.compile(r"^[a-z]\)\s*")


class MappingError(ValueError):
    """The mapping document is wrong: the message names the key."""


def clean(text: str) -> str:
    """Non-breaking spaces and line breaks become single spaces; ends stripped."""
    # str.split() splits on every Unicode space, non-breaking ones included.
    return " ".join(text.split()) if text else ""


def norm(text: str) -> str:
    """The form used to compare values: cleaned, dashes unified, case folded."""
    return clean(text).translate(_DASHES).casefold()


def choice_candidates(text: str) -> Iterable[str]:
    """Forms of a reported value to look up in a value map, most exact first: as is,
    without a leading ``a)`` letter, and the head before a long explanation
    (``Pre-deployment – The use case is ...`` -> ``pre-deployment``)."""
    n = norm(text)
    yield n
    stripped = _LETTER_RE.sub("", n)
    if stripped != n:
        yield stripped
    for sep in (" - ", ": "):
        if sep in stripped:
            yield stripped.split(sep, 1)[0].strip()


def parse_list(raw: str) -> list[str]:
    """A "select multiple" cell: a stringified Python list (``['a', 'b']``), JSON, or
    values separated by semicolons."""
    text = (raw or "").strip()
    if not text or text == "[]":
        return []
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            try:
                value = json.loads(text)
            except ValueError:
                value = None
        if isinstance(value, list | tuple):
            return [clean(str(v)) for v in value if clean(str(v))]
        text = text[1:-1]
    return [clean(p) for p in text.split(";") if clean(p)]


@dataclass
class Field:
    name: str
    column: str
    type: str = "text"
    required: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    blank: Any = None
    formats: list[str] = field(default_factory=list)
    combine: str = "any"
    priority: list[str] = field(default_factory=list)
    collapse: bool = True
    max_length: int | None = None
    export_values: dict[str, str] = field(default_factory=dict)
    _lookup: dict[str, Any] = field(default_factory=dict, repr=False)
    _memo: dict[str, tuple[Any, list[str]]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._lookup = {norm(k): v for k, v in self.values.items()}

    def lookup(self, text: str) -> tuple[bool, Any]:
        for candidate in choice_candidates(text):
            if candidate in self._lookup:
                return True, self._lookup[candidate]
        return False, None

    def parse(self, raw: str, placeholders: frozenset[str]) -> tuple[Any, list[str]]:
        """Return (value, unmapped reported values). Blank and placeholders give ``blank``.
        Enumerations repeat, so their results are remembered per raw value."""
        if self.type == "text":
            return self._parse(raw, placeholders)
        key = raw or ""
        if key not in self._memo:
            self._memo[key] = self._parse(key, placeholders)
        return self._memo[key]

    def _parse(self, raw: str, placeholders: frozenset[str]) -> tuple[Any, list[str]]:
        text = clean(raw)
        if not text or norm(text) in placeholders:
            return self.blank, []
        if self.type == "text":
            if not self.collapse:
                return (raw or "").replace("\xa0", " ").strip(), []
            return text, []
        if self.type in ("choice", "bool"):
            ok, value = self.lookup(text)
            return (value, []) if ok else (self.blank, [text])
        if self.type == "date":
            parsed = parse_date(text, self.formats)
            return (parsed.isoformat(), []) if parsed else (self.blank, [text])
        # list
        items = parse_list(raw)
        mapped, unmapped = [], []
        for item in items:
            if norm(item) in placeholders:
                continue
            ok, value = self.lookup(item)
            (mapped.append(value) if ok else unmapped.append(item))
        return self._combine(mapped), unmapped

    def _combine(self, values: list[Any]) -> Any:
        if not values:
            return self.blank
        if self.combine == "any":
            if any(v is True for v in values):
                return True
            return False if all(v is False for v in values) else self.blank
        if self.combine == "priority":
            for wanted in self.priority:
                if wanted in values:
                    return wanted
            return values[0]
        if self.combine == "all":
            return sorted({str(v) for v in values})
        return values[0]


def parse_date(text: str, formats: list[str]) -> dt.date | None:
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


@dataclass
class Control:
    code: str
    name: str
    field: Field
    description: str = ""


@dataclass
class Mapping:
    name: str
    source: str
    label: str
    unit_column: str
    unit_name_column: str | None
    child_column: str | None
    key_columns: list[str]
    fields: dict[str, Field]
    data_fields: dict[str, Field]
    risk_fields: dict[str, Field]
    controls: list[Control]
    placeholders: frozenset[str]
    aliases: dict[str, list[str]]
    scan_rows: int = 20
    sheet: str | None = None
    export_columns: list[str] = field(default_factory=list)

    @property
    def required_columns(self) -> list[str]:
        cols = [self.unit_column, self.fields["name"].column]
        return list(dict.fromkeys(cols))

    def all_fields(self) -> Iterable[Field]:
        yield from self.fields.values()
        yield from self.data_fields.values()
        yield from self.risk_fields.values()
        for control in self.controls:
            yield control.field


def _field(name: str, spec: Any, where: str, default_type: str) -> Field:
    if isinstance(spec, str):
        spec = {"column": spec}
    if not isinstance(spec, dict) or not spec.get("column"):
        raise MappingError(f"{where}.{name}: give at least a 'column'.")
    unknown = set(spec) - {
        "column",
        "type",
        "required",
        "values",
        "blank",
        "formats",
        "combine",
        "priority",
        "collapse",
        "max_length",
        "export_values",
    }
    if unknown:
        raise MappingError(f"{where}.{name}: unknown keys {', '.join(sorted(unknown))}.")
    ftype = spec.get("type", default_type)
    if ftype not in TYPES:
        raise MappingError(f"{where}.{name}: type must be one of {', '.join(TYPES)}.")
    if ftype in ("choice", "bool", "list") and not spec.get("values"):
        raise MappingError(f"{where}.{name}: a {ftype} field needs a 'values' table.")
    if ftype == "date" and not spec.get("formats"):
        raise MappingError(f"{where}.{name}: a date field needs 'formats' (strptime patterns).")
    if spec.get("combine", "any") not in ("any", "priority", "all", "first"):
        raise MappingError(f"{where}.{name}: combine must be any, priority, all or first.")
    return Field(
        name=name,
        column=spec["column"],
        type=ftype,
        required=bool(spec.get("required", False)),
        values=dict(spec.get("values", {})),
        blank=spec.get("blank"),
        formats=list(spec.get("formats", [])),
        combine=spec.get("combine", "any"),
        priority=list(spec.get("priority", [])),
        collapse=bool(spec.get("collapse", True)),
        max_length=spec.get("max_length"),
        export_values=dict(spec.get("export_values", {})),
    )


def _check_choices(f: Field, allowed: Iterable[str], where: str) -> None:
    allowed = set(allowed)
    bad = {str(v) for v in [*f.values.values(), f.blank] if v is not None and v not in allowed}
    if bad:
        raise MappingError(
            f"{where}.{f.name}: values {', '.join(sorted(bad))} are not among "
            f"{', '.join(sorted(allowed))}."
        )


def mapping_from_dict(doc: dict[str, Any]) -> Mapping:
    """Validate a parsed mapping document (see mappings/README.md)."""
    from governance.models import ControlAttestation
    from portfolio.choices import IntegrationDepth, RiskTier, Stage
    from portfolio.models import Initiative

    for key in ("name", "source", "unit", "fields"):
        if key not in doc:
            raise MappingError(f"The mapping needs a '{key}' entry.")
    source = str(doc["source"])
    if not source or len(source) > 60:
        raise MappingError("source: give a name of at most 60 characters.")
    unit = doc["unit"]
    if not isinstance(unit, dict) or not unit.get("column"):
        raise MappingError("unit.column: name the column holding the business unit.")

    fields: dict[str, Field] = {}
    data_fields: dict[str, Field] = {}
    for name, spec in doc["fields"].items():
        if name in INITIATIVE_FIELDS:
            fields[name] = _field(name, spec, "fields", INITIATIVE_FIELDS[name])
        elif name.startswith("data.") or (isinstance(spec, dict) and spec.get("store") == "data"):
            key = name.removeprefix("data.")
            spec = (
                {k: v for k, v in spec.items() if k != "store"} if isinstance(spec, dict) else spec
            )
            data_fields[key] = _field(key, spec, "fields", "text")
        else:
            raise MappingError(
                f"fields.{name}: not an initiative field ({', '.join(INITIATIVE_FIELDS)}); "
                "prefix it with 'data.' to keep it in the initiative's source data."
            )
    if "name" not in fields:
        raise MappingError("fields.name: every mapping must say which column holds the name.")
    fields["name"].required = True
    choice_sets = {
        "stage": Stage.values,
        "build_or_buy": Initiative.BuildOrBuy.values,
        "integration_depth": IntegrationDepth.values,
        "risk_tier": RiskTier.values,
    }
    for name, allowed in choice_sets.items():
        if name in fields:
            _check_choices(fields[name], allowed, "fields")
    if "stage" in fields and fields["stage"].blank is None:
        fields["stage"].blank = Stage.UNKNOWN  # a blank stage stays unknown, never guessed

    risk: dict[str, Field] = {}
    for name, spec in (doc.get("risk") or {}).get("fields", {}).items():
        if name not in RISK_FIELDS:
            raise MappingError(f"risk.fields.{name}: not one of {', '.join(RISK_FIELDS)}.")
        risk[name] = _field(name, spec, "risk.fields", RISK_FIELDS[name])
        if name == "eu_tier":
            _check_choices(risk[name], RiskTier.values, "risk.fields")

    controls = []
    codes = set()
    for i, spec in enumerate(doc.get("controls", [])):
        where = f"controls[{i}]"
        for key in ("code", "name", "column"):
            if not spec.get(key):
                raise MappingError(f"{where}: give a '{key}'.")
        if spec["code"] in codes:
            raise MappingError(f"{where}: control code {spec['code']} is used twice.")
        codes.add(spec["code"])
        fspec = {k: v for k, v in spec.items() if k not in ("code", "name", "description")}
        f = _field(spec["code"], fspec, "controls", "choice")
        if f.type != "text":
            _check_choices(f, ControlAttestation.Status.values, where)
        controls.append(
            Control(
                code=spec["code"],
                name=spec["name"],
                field=f,
                description=spec.get("description", ""),
            )
        )

    placeholders = frozenset(norm(p) for p in doc.get("placeholders", []))
    key = doc.get("key", {}) or {}
    return Mapping(
        name=str(doc["name"]),
        source=source,
        label=str(doc.get("label", doc["name"])),
        unit_column=unit["column"],
        unit_name_column=unit.get("name_column"),
        child_column=unit.get("child_column"),
        key_columns=list(key.get("columns", [])),
        fields=fields,
        data_fields=data_fields,
        risk_fields=risk,
        controls=controls,
        placeholders=placeholders,
        aliases={k: list(v) for k, v in (doc.get("aliases") or {}).items()},
        scan_rows=int(doc.get("header_scan_rows", 20)),
        sheet=doc.get("sheet"),
        export_columns=list(doc.get("export_columns", [])),
    )


def parse_document(text: str, *, filename: str = "") -> dict[str, Any]:
    is_json = filename.lower().endswith(".json") or text.lstrip().startswith("{")
    try:
        return json.loads(text) if is_json else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if is_json else "TOML"
        raise MappingError(f"The mapping file is not valid {kind}: {exc}") from exc


def load_mapping(
    *, format_name: str | None = None, text: str | None = None, filename: str = ""
) -> Mapping:
    """A built-in format by name (``omb-2025``) or a mapping document's text."""
    if text is None:
        if format_name not in BUILTIN_FORMATS:
            raise MappingError(
                f"Unknown format {format_name!r}; built in: {', '.join(BUILTIN_FORMATS)}."
            )
        path = BUILTIN_FORMATS[format_name]
        text, filename = path.read_text(encoding="utf-8"), path.name
    return mapping_from_dict(parse_document(text, filename=filename))
