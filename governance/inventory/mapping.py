"""The declarative mapping from an inventory's columns to the portfolio.

A mapping is a TOML or JSON document (see ``mappings/README.md``); the OMB 2025 format
ships as ``formats/omb-2025.toml`` and is read by the same loader, so a new inventory
format needs a file, not code. ``load_mapping`` validates the whole document when it is
loaded (every key, its type, and every stored value against the field it fills), so a
mapping that loads cannot fail later on; errors name the key and what it expects.
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
    "stage_entered_on": "date",
    "started_on": "date",
    "build_or_buy": "choice",
    "integration_depth": "choice",
    "risk_tier": "choice",
    "uses_pii": "bool",
    "uses_demographics": "bool",
}
#: ``tier`` is the app's risk tier (stored as the assessment's tier); ``eu_tier`` is kept
#: as its older name. ``level`` is the source's own risk level, kept in source data.
RISK_FIELDS = {
    "us_high_impact": "bool",
    "us_justification": "text",
    "eu_tier": "choice",
    "tier": "choice",
    "level": "text",
}
ATTESTATION_STATUSES = ("attested", "not_met", "not_applicable", "in_progress")
TYPES = ("text", "choice", "bool", "date", "list")
COMBINES = ("any", "priority", "all", "first")

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


def parse_list(raw: str, separator: str = ";") -> list[str]:
    """A "select multiple" cell: a stringified Python list (``['a', 'b']``), JSON, or
    values separated by ``separator`` (default ``;``)."""
    text = (raw or "").strip()
    if not text or text == "[]":
        return []
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                value = None
        if isinstance(value, list | tuple):
            return [clean(str(v)) for v in value if clean(str(v))]
        text = text[1:-1]
    return [clean(p) for p in text.split(separator or ";") if clean(p)]


def parse_date(text: str, formats: list[str]) -> dt.date | None:
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class ColumnRef:
    """A column of the file: its header (or one of the mapping's aliases for it), the
    n-th header of that name when headers repeat, or the first header starting with it."""

    name: str
    occurrence: int = 1
    prefix: bool = False

    @property
    def key(self) -> str:
        """The name this column is stored under in the raw source data."""
        return self.name if self.occurrence == 1 else f"{self.name} ({self.occurrence})"


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
    #: the columns read, first non-blank wins (coalescing); empty with a constant
    columns: list[ColumnRef] = field(default_factory=list)
    constant: str | None = None
    clear: bool = False
    placeholders: frozenset[str] = frozenset()
    separator: str = ";"
    split: tuple[str, int] | None = None
    regex: re.Pattern | None = None
    _lookup: dict[str, Any] = field(default_factory=dict, repr=False)
    _memo: dict[str, tuple[Any, list[str]]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._lookup = {norm(k): v for k, v in self.values.items()}
        if not self.columns and self.constant is None and self.column:
            self.columns = [ColumnRef(self.column)]

    def lookup(self, text: str) -> tuple[bool, Any]:
        for candidate in choice_candidates(text):
            if candidate in self._lookup:
                return True, self._lookup[candidate]
        return False, None

    def is_placeholder(self, text: str, placeholders: frozenset[str]) -> bool:
        n = norm(text)
        return not n or n in placeholders or n in self.placeholders

    def pick(self, cells: list[str], placeholders: frozenset[str]) -> tuple[str, str | None]:
        """(the text this field reads, that text after the split and regex transforms, or
        None when a transform does not fit it). The text is the constant, else the first
        of its columns' cells that is not blank or a placeholder (coalescing)."""
        if self.constant is not None:
            raw = self.constant
        else:
            raw = next((c for c in cells if not self.is_placeholder(c, placeholders)), "")
        text = raw
        if text and self.split is not None:
            sep, index = self.split
            parts = text.split(sep)
            if not -len(parts) <= index < len(parts):
                return raw, None
            text = parts[index].strip()
        if text and self.regex is not None:
            match = self.regex.search(text)
            if match is None:
                return raw, None
            group = "value" if "value" in self.regex.groupindex else 1
            text = (match.group(group) or "").strip()
        return raw, text

    def is_blank(self, raw: str, placeholders: frozenset[str]) -> bool:
        if self.type == "list":
            items = parse_list(raw, self.separator)
            return not [i for i in items if not self.is_placeholder(i, placeholders)]
        return self.is_placeholder(clean(raw), placeholders)

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
        if self.is_placeholder(text, placeholders):
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
        items = parse_list(raw, self.separator)
        mapped, unmapped = [], []
        for item in items:
            if self.is_placeholder(item, placeholders):
                continue
            if not self.values:  # a plain list of texts (source data only)
                mapped.append(item)
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


@dataclass
class Control:
    code: str
    name: str
    field: Field
    description: str = ""


@dataclass
class RowFilter:
    """Skip a row when ``column``'s cell is one of ``skip`` (or matches ``skip_regex``),
    or keep only rows whose cell is one of ``keep``."""

    column: ColumnRef
    skip: frozenset[str] = frozenset()
    keep: frozenset[str] = frozenset()
    skip_regex: re.Pattern | None = None

    def reason(self, cell: str) -> str | None:
        n = norm(cell)
        if self.keep and n not in self.keep:
            return f"{self.column.key} is {clean(cell)!r}, not one of the values kept"
        if n in self.skip or (self.skip_regex is not None and self.skip_regex.search(clean(cell))):
            return f"{self.column.key} is {clean(cell)!r}"
        return None


@dataclass
class KeyStep:
    """One way of matching a row to a stored initiative: by ``columns`` (an id), or by
    the normalised ``name`` within the top-level unit."""

    kind: str  # "id" or "name"
    columns: list[ColumnRef] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.kind == "name":
            return "name"
        return "id" if not self.columns else "id (" + ", ".join(c.key for c in self.columns) + ")"


@dataclass
class Mapping:
    name: str
    source: str
    label: str
    #: unit levels, top first; empty when the top-level unit is a constant
    unit_levels: list[ColumnRef]
    unit_constant: str | None
    unit_name_column: ColumnRef | None
    key_columns: list[ColumnRef]
    fields: dict[str, Field]
    data_fields: dict[str, Field]
    risk_fields: dict[str, Field]
    controls: list[Control]
    placeholders: frozenset[str]
    aliases: dict[str, list[str]]
    scan_rows: int = 20
    sheet: str | None = None
    export_columns: list[str] = field(default_factory=list)
    key_fallbacks: list[KeyStep] = field(default_factory=list)
    unit_aliases: dict[str, list[str]] = field(default_factory=dict)
    filters: list[RowFilter] = field(default_factory=list)
    records: str | None = None
    #: refuse when more than this share of the mapped columns is missing
    missing_columns_limit: float = 0.5

    @property
    def unit_column(self) -> str:
        return self.unit_levels[0].name if self.unit_levels else ""

    @property
    def child_column(self) -> str | None:
        return self.unit_levels[1].name if len(self.unit_levels) > 1 else None

    @property
    def required_columns(self) -> list[ColumnRef]:
        """What the header row must hold: the top-level unit (unless a constant) and the
        name's first column (unless a constant)."""
        refs = list(self.unit_levels[:1])
        name = self.fields["name"]
        if name.constant is None and name.columns:
            refs.append(name.columns[0])
        return list(dict.fromkeys(refs))

    def all_fields(self) -> Iterable[Field]:
        yield from self.fields.values()
        yield from self.data_fields.values()
        yield from self.risk_fields.values()
        for control in self.controls:
            yield control.field

    def column_refs(self) -> list[ColumnRef]:
        """Every column the mapping reads, once each, in the mapping's order."""
        refs: list[ColumnRef] = [*self.unit_levels]
        if self.unit_name_column:
            refs.append(self.unit_name_column)
        refs += self.key_columns
        for step in self.key_fallbacks:
            refs += step.columns
        for f in self.all_fields():
            refs += f.columns
        refs += [flt.column for flt in self.filters]
        return list(dict.fromkeys(refs))

    def layout(self) -> list[str]:
        """The export's columns: ``export_columns``, else every mapped column in order."""
        return self.export_columns or [r.key for r in self.column_refs()]


# --- validation -------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return {
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _expect(value: Any, kind: type | tuple, where: str, what: str) -> Any:
    ok = isinstance(value, kind)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if ok and isinstance(value, bool) and bool not in kinds:
        ok = False  # TOML's true is not a number
    if not ok:
        raise MappingError(f"{where}: expected {what}, got {_type_name(value)} {value!r:.60}.")
    return value


def _text(value: Any, where: str, *, allow_empty: bool = False, limit: int = 500) -> str:
    _expect(value, str, where, "text")
    if not allow_empty and not value.strip():
        raise MappingError(f"{where}: expected non-empty text.")
    if "\x00" in value or len(value) > limit:
        raise MappingError(f"{where}: expected text of at most {limit} characters, no NUL.")
    return value


def _text_list(value: Any, where: str) -> list[str]:
    _expect(value, list, where, 'a list of texts, e.g. ["a", "b"]')
    return [_text(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _int(value: Any, where: str, *, low: int | None = None, high: int | None = None) -> int:
    _expect(value, int, where, "a whole number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise MappingError(f"{where}: expected a whole number from {low} to {high}.")
    return value


def _table(value: Any, where: str) -> dict[str, Any]:
    return _expect(value, dict, where, "a table")


def _ref(value: Any, where: str) -> ColumnRef:
    """A column: ``"Header"`` or ``{ column = "Header", occurrence = 2, prefix = true }``."""
    if isinstance(value, str):
        return ColumnRef(_text(value, where))
    spec = _expect(value, dict, where, 'a column name or { column = "...", occurrence = 2 }')
    unknown = set(spec) - {"column", "occurrence", "prefix"}
    if unknown:
        raise MappingError(f"{where}: unknown keys {', '.join(sorted(unknown))}.")
    if "column" not in spec:
        raise MappingError(f"{where}.column: name the column.")
    return ColumnRef(
        _text(spec["column"], f"{where}.column"),
        occurrence=_int(spec.get("occurrence", 1), f"{where}.occurrence", low=1, high=1000),
        prefix=_expect(spec.get("prefix", False), bool, f"{where}.prefix", "true or false"),
    )


def _refs(value: Any, where: str) -> list[ColumnRef]:
    _expect(value, list, where, 'a list of columns, e.g. ["id"]')
    if not value:
        raise MappingError(f"{where}: expected at least one column.")
    return [_ref(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _regex(value: Any, where: str) -> re.Pattern:
    try:
        pattern = re.compile(_text(value, where))
    except re.error as exc:
        raise MappingError(f"{where}: not a valid regular expression ({exc}).") from exc
    if pattern.groups < 1:
        raise MappingError(f"{where}: expected a regular expression with a group, e.g. ^(\\S+).")
    return pattern


FIELD_KEYS = {
    "column",
    "columns",
    "occurrence",
    "prefix",
    "value",
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
    "clear",
    "placeholders",
    "separator",
    "split",
    "regex",
}


def _field(name: str, spec: Any, where: str, default_type: str) -> Field:
    where = f"{where}.{name}"
    if isinstance(spec, str):
        spec = {"column": spec}
    _expect(spec, dict, where, 'a column name or a table with a "column"')
    unknown = set(spec) - FIELD_KEYS
    if unknown:
        raise MappingError(f"{where}: unknown keys {', '.join(sorted(unknown))}.")
    sources = [k for k in ("column", "columns", "value") if k in spec]
    if len(sources) != 1:
        raise MappingError(
            f"{where}: give exactly one of 'column', 'columns' (the first non-blank wins) "
            "or 'value' (a constant)."
        )
    columns: list[ColumnRef] = []
    constant = None
    if "value" in spec:
        constant = _text(spec["value"], f"{where}.value", allow_empty=True)
    elif "columns" in spec:
        columns = _refs(spec["columns"], f"{where}.columns")
    else:
        ref = _ref(spec["column"], f"{where}.column")
        if "occurrence" in spec or "prefix" in spec:
            ref = ColumnRef(
                ref.name,
                occurrence=_int(spec.get("occurrence", 1), f"{where}.occurrence", low=1, high=1000),
                prefix=_expect(spec.get("prefix", False), bool, f"{where}.prefix", "true or false"),
            )
        columns = [ref]
    ftype = _text(spec.get("type", default_type), f"{where}.type")
    if ftype not in TYPES:
        raise MappingError(f"{where}.type: expected one of {', '.join(TYPES)}, got {ftype!r}.")
    values = _table(spec.get("values", {}), f"{where}.values")
    for k, v in values.items():
        _expect(v, (str, bool, int, float), f"{where}.values.{k}", "a text, number or true/false")
    if ftype in ("choice", "bool") and not values:
        raise MappingError(f"{where}.values: a {ftype} field needs a 'values' table.")
    formats = _text_list(spec.get("formats", []), f"{where}.formats")
    if ftype == "date" and not formats:
        raise MappingError(f"{where}.formats: a date field needs strptime patterns.")
    for i, fmt in enumerate(formats):
        if "%" not in fmt:
            raise MappingError(f"{where}.formats[{i}]: expected a strptime pattern like %Y-%m-%d.")
    # A list without a value table is a list of texts: all of them, by default.
    default_combine = "all" if ftype == "list" and not values else "any"
    combine = _text(spec.get("combine", default_combine), f"{where}.combine")
    if combine not in COMBINES:
        raise MappingError(f"{where}.combine: expected one of {', '.join(COMBINES)}.")
    priority = _text_list(spec.get("priority", []), f"{where}.priority")
    if combine == "priority" and not priority:
        raise MappingError(f"{where}.priority: combine = 'priority' needs the order of values.")
    max_length = spec.get("max_length")
    if max_length is not None:
        max_length = _int(max_length, f"{where}.max_length", low=1, high=1_000_000)
    export_values = _table(spec.get("export_values", {}), f"{where}.export_values")
    for k, v in export_values.items():
        _text(v, f"{where}.export_values.{k}", allow_empty=True)
    split = None
    if "split" in spec:
        s = _table(spec["split"], f"{where}.split")
        unknown = set(s) - {"separator", "index"}
        if unknown or "separator" not in s:
            raise MappingError(
                f'{where}.split: expected {{ separator = " - ", index = 0 }} (index from 0; '
                "-1 is the last part)."
            )
        split = (
            _text(s["separator"], f"{where}.split.separator", limit=20),
            _int(s.get("index", 0), f"{where}.split.index", low=-100, high=100),
        )
    return Field(
        name=name,
        column=columns[0].name if columns else "",
        columns=columns,
        constant=constant,
        type=ftype,
        required=_expect(spec.get("required", False), bool, f"{where}.required", "true or false"),
        values=dict(values),
        blank=spec.get("blank"),
        formats=formats,
        combine=combine,
        priority=priority,
        collapse=_expect(spec.get("collapse", True), bool, f"{where}.collapse", "true or false"),
        max_length=max_length,
        export_values=dict(export_values),
        clear=_expect(spec.get("clear", False), bool, f"{where}.clear", "true or false"),
        placeholders=frozenset(
            norm(p) for p in _text_list(spec.get("placeholders", []), f"{where}.placeholders")
        ),
        separator=_text(spec.get("separator", ";"), f"{where}.separator", limit=20)
        if "separator" in spec
        else ";",
        split=split,
        regex=_regex(spec["regex"], f"{where}.regex") if "regex" in spec else None,
    )


def _check_target(f: Field, where: str, kind: str, allowed: Iterable[Any] | None = None) -> None:
    """The field's type and stored values fit what it fills: ``choice`` fields store one of
    ``allowed``, ``bool`` fields true/false, ``date`` fields a date, text fields text."""
    where = f"{where}.{f.name}"
    one_of = ("first", "priority")
    if kind == "text":
        if f.type != "text":
            raise MappingError(f"{where}.type: this field holds text; expected type = 'text'.")
        return
    if kind == "date":
        if f.type != "date":
            raise MappingError(f"{where}.type: this field holds a date; expected type = 'date'.")
        return
    if kind == "bool":
        if not (f.type == "bool" or (f.type == "list" and f.combine in ("any", *one_of))):
            raise MappingError(
                f"{where}.type: this field holds true/false; expected type = 'bool' (or 'list' "
                f"with combine = 'any'), got {f.type!r}"
                + (f" with combine = {f.combine!r}" if f.type == "list" else "")
                + "."
            )
        allowed = (True, False)
    else:  # choice
        if not (f.type == "choice" or (f.type == "list" and f.combine in one_of)):
            raise MappingError(
                f"{where}.type: this field holds one of {', '.join(map(str, allowed or []))}; "
                f"expected type = 'choice' (or 'list' with combine = 'first' or 'priority'), "
                f"got {f.type!r}"
                + (f" with combine = {f.combine!r}" if f.type == "list" else "")
                + "."
            )
    allowed = list(allowed or [])
    bad = [v for v in f.values.values() if not any(v is a or v == a for a in allowed)]
    bad += [v for v in f.priority if v not in allowed]
    if f.blank is not None and not any(f.blank is a or f.blank == a for a in allowed):
        bad.append(f.blank)
    if kind == "bool":
        bad = [
            v for v in [*f.values.values(), f.blank] if v is not None and not isinstance(v, bool)
        ]
        if bad:
            raise MappingError(
                f"{where}.values: expected true or false, got {', '.join(map(repr, bad))}."
            )
        return
    if bad:
        raise MappingError(
            f"{where}: values {', '.join(sorted(map(str, bad)))} are not among "
            f"{', '.join(sorted(map(str, allowed)))}."
        )


TOP_KEYS = {
    "name",
    "source",
    "label",
    "header_scan_rows",
    "sheet",
    "placeholders",
    "unit",
    "key",
    "aliases",
    "fields",
    "risk",
    "controls",
    "export_columns",
    "filters",
    "records",
    "missing_columns_limit",
}


def mapping_from_dict(doc: Any) -> Mapping:
    """Validate a parsed mapping document (see mappings/README.md)."""
    from governance.models import ControlAttestation
    from portfolio.choices import IntegrationDepth, RiskTier, Stage
    from portfolio.models import Initiative

    _expect(doc, dict, "The mapping", "a table (TOML) or an object (JSON)")
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise MappingError(
            f"Unknown top-level keys: {', '.join(sorted(unknown))} "
            f"(expected some of {', '.join(sorted(TOP_KEYS))})."
        )
    for key in ("name", "source", "unit", "fields"):
        if key not in doc:
            raise MappingError(f"The mapping needs a '{key}' entry.")
    name = _text(doc["name"], "name", limit=100)
    source = _text(doc["source"], "source", limit=60)

    unit = _table(doc["unit"], "unit")
    unknown = set(unit) - {"column", "columns", "child_column", "name_column", "value", "aliases"}
    if unknown:
        raise MappingError(f"unit: unknown keys {', '.join(sorted(unknown))}.")
    levels: list[ColumnRef] = []
    if "columns" in unit:
        if "column" in unit or "child_column" in unit:
            raise MappingError("unit: give either 'columns' (levels, top first) or 'column'.")
        levels = _refs(unit["columns"], "unit.columns")
    elif "column" in unit:
        levels = [_ref(unit["column"], "unit.column")]
        if unit.get("child_column") is not None:
            levels.append(_ref(unit["child_column"], "unit.child_column"))
    unit_constant = None
    if "value" in unit:
        unit_constant = _text(unit["value"], "unit.value", limit=200)
    if not levels and unit_constant is None:
        raise MappingError(
            "unit.column: name the column holding the business unit (or give unit.value, "
            "the code of the unit every row belongs to)."
        )
    unit_aliases = {}
    for code, spellings in _table(unit.get("aliases", {}), "unit.aliases").items():
        _text(code, "unit.aliases: a unit code", limit=40)
        unit_aliases[code.strip().upper()] = _text_list(spellings, f"unit.aliases.{code}")

    fields: dict[str, Field] = {}
    data_fields: dict[str, Field] = {}
    for fname, spec in _table(doc["fields"], "fields").items():
        if fname in INITIATIVE_FIELDS:
            fields[fname] = _field(fname, spec, "fields", INITIATIVE_FIELDS[fname])
        elif fname.startswith("data.") and len(fname) > 5:
            key = fname.removeprefix("data.")
            data_fields[key] = _field(key, spec, "fields.data", "text")
        else:
            raise MappingError(
                f"fields.{fname}: not an initiative field ({', '.join(INITIATIVE_FIELDS)}); "
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
    for fname, f in fields.items():
        kind = INITIATIVE_FIELDS[fname]
        _check_target(f, "fields", kind, choice_sets.get(fname))
    if "stage" in fields:
        if fields["stage"].clear:
            raise MappingError("fields.stage.clear: a stage is never cleared by an import.")
        if fields["stage"].blank is None:
            fields["stage"].blank = Stage.UNKNOWN  # a blank stage stays unknown, never guessed
    for f in data_fields.values():
        if f.type in ("choice", "bool") and f.combine == "all":
            raise MappingError(f"fields.data.{f.name}.combine: 'all' is for list fields.")

    risk: dict[str, Field] = {}
    risk_doc = _table(doc.get("risk", {}), "risk")
    unknown = set(risk_doc) - {"fields"}
    if unknown:
        raise MappingError(f"risk: unknown keys {', '.join(sorted(unknown))} (expected 'fields').")
    for rname, spec in _table(risk_doc.get("fields", {}), "risk.fields").items():
        if rname not in RISK_FIELDS:
            raise MappingError(f"risk.fields.{rname}: not one of {', '.join(RISK_FIELDS)}.")
        risk[rname] = _field(rname, spec, "risk.fields", RISK_FIELDS[rname])
        _check_target(
            risk[rname],
            "risk.fields",
            RISK_FIELDS[rname],
            RiskTier.values if rname in ("eu_tier", "tier") else None,
        )
    if "eu_tier" in risk and "tier" in risk:
        raise MappingError("risk.fields: give 'tier' or its older name 'eu_tier', not both.")
    if "eu_tier" in risk:
        risk["tier"] = risk.pop("eu_tier")

    controls = []
    codes = set()
    for i, spec in enumerate(_expect(doc.get("controls", []), list, "controls", "a list")):
        where = f"controls[{i}]"
        _table(spec, where)
        for key in ("code", "name"):
            if key not in spec:
                raise MappingError(f"{where}: give a '{key}'.")
        code = _text(spec["code"], f"{where}.code", limit=40)
        if code in codes:
            raise MappingError(f"{where}: control code {code} is used twice.")
        codes.add(code)
        fspec = {k: v for k, v in spec.items() if k not in ("code", "name", "description")}
        f = _field(code, fspec, "controls", "choice")
        if f.type != "text":
            _check_target(f, "controls", "choice", ControlAttestation.Status.values)
        controls.append(
            Control(
                code=code,
                name=_text(spec["name"], f"{where}.name", limit=200),
                field=f,
                description=_text(
                    spec.get("description", ""), f"{where}.description", allow_empty=True
                ),
            )
        )

    placeholders = frozenset(
        norm(p) for p in _text_list(doc.get("placeholders", []), "placeholders")
    )
    key = _table(doc.get("key", {}), "key")
    unknown = set(key) - {"columns", "fallback"}
    if unknown:
        raise MappingError(f"key: unknown keys {', '.join(sorted(unknown))}.")
    key_columns = _refs(key["columns"], "key.columns") if "columns" in key else []
    fallbacks: list[KeyStep] = []
    for i, step in enumerate(
        _expect(key.get("fallback", []), list, "key.fallback", 'a list, e.g. ["name"]')
    ):
        where = f"key.fallback[{i}]"
        if step == "name":
            fallbacks.append(KeyStep("name"))
        elif isinstance(step, dict) and set(step) == {"columns"}:
            fallbacks.append(KeyStep("id", _refs(step["columns"], f"{where}.columns")))
        else:
            raise MappingError(
                f'{where}: expected "name" or {{ columns = ["old id"] }}, got {step!r:.60}.'
            )

    aliases = {}
    for col, names in _table(doc.get("aliases", {}), "aliases").items():
        aliases[col] = _text_list(names, f"aliases.{col}")

    filters = []
    for i, spec in enumerate(_expect(doc.get("filters", []), list, "filters", "a list")):
        where = f"filters[{i}]"
        _table(spec, where)
        unknown = set(spec) - {"column", "skip", "keep", "skip_regex"}
        if unknown or "column" not in spec:
            raise MappingError(
                f'{where}: expected {{ column = "...", skip = ["not used"] }} (or keep = [...], '
                "skip_regex = '...')."
            )
        flt = RowFilter(
            column=_ref(spec["column"], f"{where}.column"),
            skip=frozenset(norm(v) for v in _text_list(spec.get("skip", []), f"{where}.skip")),
            keep=frozenset(norm(v) for v in _text_list(spec.get("keep", []), f"{where}.keep")),
        )
        if "skip_regex" in spec:
            try:
                flt.skip_regex = re.compile(_text(spec["skip_regex"], f"{where}.skip_regex"))
            except re.error as exc:
                raise MappingError(f"{where}.skip_regex: not a valid regular expression.") from exc
        if not (flt.skip or flt.keep or flt.skip_regex):
            raise MappingError(f"{where}: say which values to skip or keep.")
        filters.append(flt)

    limit = doc.get("missing_columns_limit", 0.5)
    _expect(limit, (int, float), "missing_columns_limit", "a share from 0 to 1, e.g. 0.5")
    if not 0 <= limit <= 1:
        raise MappingError("missing_columns_limit: expected a share from 0 to 1, e.g. 0.5.")

    mapping = Mapping(
        name=name,
        source=source,
        label=_text(doc.get("label", name), "label", limit=100),
        unit_levels=levels,
        unit_constant=unit_constant,
        unit_name_column=_ref(unit["name_column"], "unit.name_column")
        if unit.get("name_column") is not None
        else None,
        key_columns=key_columns,
        key_fallbacks=fallbacks,
        unit_aliases=unit_aliases,
        fields=fields,
        data_fields=data_fields,
        risk_fields=risk,
        controls=controls,
        placeholders=placeholders,
        aliases=aliases,
        scan_rows=_int(doc.get("header_scan_rows", 20), "header_scan_rows", low=1, high=1000),
        sheet=_text(doc["sheet"], "sheet", limit=31) if "sheet" in doc else None,
        export_columns=_text_list(doc.get("export_columns", []), "export_columns"),
        filters=filters,
        records=_text(doc["records"], "records", allow_empty=True) if "records" in doc else None,
        missing_columns_limit=float(limit),
    )
    if not mapping.required_columns and mapping.fields["name"].constant is not None:
        raise MappingError("fields.name: the name must come from a column, not a constant.")
    return mapping


def parse_document(text: str, *, filename: str = "") -> Any:
    is_json = filename.lower().endswith(".json") or text.lstrip().startswith("{")
    if "\x00" in text:
        raise MappingError("The mapping file holds NUL characters: it is not a text file.")
    try:
        return json.loads(text) if is_json else tomllib.loads(text)
    except (ValueError, RecursionError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if is_json else "TOML"
        raise MappingError(f"The mapping file is not valid {kind}: {exc}") from exc


def load_mapping(
    *,
    format_name: str | None = None,
    text: str | bytes | None = None,
    filename: str = "",
) -> Mapping:
    """A built-in format by name (``omb-2025``) or a mapping document's text (or bytes,
    which must be UTF-8)."""
    if text is None:
        if format_name not in BUILTIN_FORMATS:
            raise MappingError(
                f"Unknown format {format_name!r}; built in: {', '.join(BUILTIN_FORMATS)}."
            )
        path = BUILTIN_FORMATS[format_name]
        text, filename = path.read_text(encoding="utf-8"), path.name
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MappingError(
                f"The mapping file is not UTF-8 text (byte {exc.start} cannot be read)."
            ) from exc
    return mapping_from_dict(parse_document(text, filename=filename))
