"""``inventory_import``: the service that turns an inventory file into the portfolio.

What the caller can rely on:

- Every input row is accounted for: ``rows_read == created + updated + unchanged +
  rejected + skipped`` (fully blank lines are not rows; they are counted apart; rows a
  mapping's filters skip are listed with the reason).
- Nothing known is erased unless the mapping says so: a column the file lacks leaves its
  field alone; a blank (or unmapped) cell keeps the stored value unless the field says
  ``clear = true``; a stage never goes back to unknown. ``report["fields"]`` counts per
  field the values set, changed, kept (same as stored), would have cleared (blank cell,
  stored value kept) and cleared.
- Each row is matched to a stored initiative by the mapping's key, then its fallbacks
  (another id column, the normalised name within the top-level unit); top-level units
  are found by code, the mapping's alias list, or name, so a renamed organisation keeps
  its initiatives. ``report["matches"]`` says how each row was matched.
- The dry run runs the very same code inside a transaction that is rolled back, so its
  report is the real run's report.
- All or nothing: with rejected rows nothing is written unless ``keep_valid_rows``; when
  more than the mapping's share of mapped columns is missing, nothing is written unless
  ``allow_missing_columns``.
- Re-importing the same file issues no UPDATE (the audit trail stays quiet); a newer
  file updates what changed and records each stage change as an ``import`` transition
  naming the source.
- Writes are set-based (a handful of queries per phase, never per row) and attributed to
  ``acting_user`` through ``acting_as``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import JSONField, Value
from django.utils import timezone
from django.utils.text import slugify

from governance.inventory.mapping import ColumnRef, Field, Mapping, clean, norm
from governance.inventory.reader import Table, find_column, normalise_header, read_table
from governance.models import Control, ControlAttestation, RiskAssessment
from people.audit import acting_as
from people.models import BusinessUnit
from people.scoping import has_global
from portfolio.choices import ACTIVE_STAGES, END_STAGES, Stage
from portfolio.models import Initiative, StageTransition
from portfolio.services import initiatives_move

Progress = Callable[[int, int, str], None]
BATCH = 1000

#: What a blank cell clears a field to, when the mapping opts in with ``clear = true``;
#: and what counts as "nothing stored".
EMPTY = {
    "summary": "",
    "problem": "",
    "stage": Stage.UNKNOWN,
    "started_on": None,
    "build_or_buy": Initiative.BuildOrBuy.UNKNOWN,
    "integration_depth": Initiative._meta.get_field("integration_depth").default,
    "risk_tier": "unassessed",
    "uses_pii": None,
    "uses_demographics": None,
}
MODEL_FIELDS = tuple(EMPTY)
INITIATIVE_READ = (
    "name",
    "business_unit_id",
    *MODEL_FIELDS,
    "source_data",
    "stage_entered_at",
    "stage_date_known",
)
RISK_EMPTY = {"us_high_impact": None, "us_justification": "", "eu_tier": "unassessed"}
RISK_MODEL = {"us_high_impact": "us_high_impact", "us_justification": "us_justification"}
RISK_MODEL["tier"] = "eu_tier"
ATTESTATION_COMPARED = ("status", "evidence", "source_data")
#: value, or a blank/unmapped cell
VALUE, BLANK = "value", "blank"


@dataclass
class RowPlan:
    row: int
    top_text: str
    top_name: str
    levels: list[tuple[str, str]]  # child levels: (name as written, normalised)
    name: str
    ident: str
    fallback_idents: list[str]
    fields: dict[str, tuple[str, Any]]
    data: dict[str, Any]
    raw: dict[str, str]
    stage_raw: str
    stage_date: dt.date | None
    risk: dict[str, tuple[str, Any]] | None
    attestations: dict[str, dict[str, Any]] = field(default_factory=dict)
    top_code: str = ""
    unit_id: int | None = None
    source_key: str = ""
    initiative_id: int | None = None
    outcome: str = ""
    how: str = ""


class _Rejection(Exception):
    pass


def _digest(*parts: str, length: int = 16) -> str:
    return hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()[:length]


def resolve_columns(table: Table, mapping: Mapping) -> tuple[dict[ColumnRef, str], list[str]]:
    """Each column the mapping reads -> its key in the table's rows; and the mapped
    columns the file lacks."""
    normalised = [normalise_header(h) for h in table.original]
    resolved, missing = {}, []
    for ref in mapping.column_refs():
        i = find_column(normalised, ref, mapping.aliases)
        if i is None:
            missing.append(ref.key)
        else:
            resolved[ref] = table.headers[i]
    # Columns the mapping only names (aliases, the export layout) are not read, but the raw
    # source data keeps them under the mapping's name, however the file spells them.
    for name in [*mapping.aliases, *mapping.export_columns]:
        ref = ColumnRef(name)
        if ref not in resolved:
            i = find_column(normalised, ref, mapping.aliases)
            if i is not None:
                resolved[ref] = table.headers[i]
    return resolved, missing


def _unit_code(top: str) -> str:
    code = clean(top).upper()
    if len(code) <= 40:
        return code
    return f"{slugify(code)[:31].upper()}-{_digest(code, length=8)}"


def _child_code(parent_code: str, child_norm: str) -> str:
    base = slugify(child_norm).upper() or "UNIT"
    code = f"{parent_code}-{base}"
    if len(code) <= 40:
        return code
    return f"{code[:31]}-{_digest(parent_code, child_norm, length=8)}"


class _Planner:
    """Reads one row into a ``RowPlan`` (no database)."""

    def __init__(self, mapping: Mapping, table: Table, columns: dict[ColumnRef, str]):
        self.m = mapping
        self.table = table
        self.columns = columns
        self.unmapped: dict[str, Counter] = defaultdict(Counter)
        # Raw dict keys: the mapping's names for the columns it knows.
        self.canonical: dict[str, str] = {}
        for ref, header in columns.items():
            self.canonical.setdefault(header, ref.key)

    def cell(self, row: dict[str, str], ref: ColumnRef | None) -> str:
        if ref is None or ref not in self.columns:
            return ""
        return row.get(self.columns[ref], "") or ""

    def blank(self, text: str) -> bool:
        c = clean(text)
        return not c or norm(c) in self.m.placeholders

    def present(self, f: Field) -> bool:
        return f.constant is not None or any(r in self.columns for r in f.columns)

    def read(self, f: Field, row) -> tuple[str, Any] | None:
        """(VALUE, parsed) or (BLANK, None) for a blank or unmapped cell; None when none of
        the field's columns is in the file."""
        if not self.present(f):
            return None
        raw, transformed = f.pick([self.cell(row, r) for r in f.columns], self.m.placeholders)
        label = f.columns[0].key if f.columns else f.name
        if transformed is None:
            self.unmapped[label][clean(raw)[:200]] += 1
            return BLANK, None
        if f.is_blank(transformed, self.m.placeholders):
            return BLANK, None
        value, unmapped = f.parse(transformed, self.m.placeholders)
        for item in unmapped:
            self.unmapped[label][item[:200]] += 1
        if value is None or (unmapped and value == f.blank) or value == []:
            return BLANK, None
        return VALUE, value

    def plan(self, rownum: int, row: dict[str, str]) -> RowPlan:
        m = self.m
        for flt in m.filters:
            if flt.column in self.columns:
                reason = flt.reason(self.cell(row, flt.column))
                if reason:
                    raise _Skip(reason)
        levels = m.unit_levels
        if m.unit_constant is not None:
            top_raw, child_refs = m.unit_constant, levels
        else:
            top_raw, child_refs = self.cell(row, levels[0]), levels[1:]
        if self.blank(top_raw):
            raise _Rejection(f"{levels[0].key} is blank: the row has no business unit.")
        top_text = clean(top_raw)
        top_name = clean(self.cell(row, m.unit_name_column))
        path: list[tuple[str, str]] = []
        for ref in child_refs:
            name = clean(self.cell(row, ref))
            if self.blank(name):
                continue
            name = name[:200]  # a unit's name holds 200 characters
            n = norm(name)
            if n in (norm(top_text), norm(top_name)) or (path and n == path[-1][1]):
                continue  # "Bureau" = the agency itself
            path.append((name, n))

        name_field = m.fields["name"]
        said = self.read(name_field, row)
        name = said[1] if said and said[0] == VALUE else ""
        if not name:
            raise _Rejection(f"{name_field.column} is blank: an initiative needs a name.")
        fields: dict[str, tuple[str, Any]] = {}
        parsed: dict[str, Any] = {"unit": top_text, "child_unit": " / ".join(p[0] for p in path)}
        for fname, f in m.fields.items():
            got = self.read(f, row) if fname != "name" else (VALUE, name)
            if got is None:
                continue
            if got[0] == VALUE and f.type == "text" and isinstance(got[1], str):
                limit = min(f.max_length or 10**6, 300 if fname == "name" else 10**6)
                if len(got[1]) > limit:
                    raise _Rejection(f"{f.column} is longer than {limit} characters.")
            if got[0] == VALUE and f.type == "date":
                got = (VALUE, dt.date.fromisoformat(got[1]))
            fields[fname] = got
            parsed[fname] = got[1].isoformat() if isinstance(got[1], dt.date) else got[1]
        for fname, f in m.data_fields.items():
            got = self.read(f, row)
            if got is not None:
                parsed[fname] = got[1]

        ident = "/".join(
            clean(self.cell(row, c)) for c in m.key_columns if not self.blank(self.cell(row, c))
        )
        fallback_idents = [
            "/".join(
                clean(self.cell(row, c)) for c in s.columns if not self.blank(self.cell(row, c))
            )
            for s in m.key_fallbacks
        ]
        if len(ident) > 150:
            raise _Rejection(
                f"{', '.join(c.key for c in m.key_columns)} is longer than 150 characters."
            )

        raw: dict[str, str] = {}
        for header in self.table.headers:
            if header in row:
                raw[self.canonical.get(header, header)] = row[header]
        if "__extra__" in row:
            raw["__extra__"] = row["__extra__"]

        risk = None
        if m.risk_fields or m.controls:
            risk_said = {}
            for fname, f in m.risk_fields.items():
                got = self.read(f, row)
                if got is not None:
                    risk_said[fname] = got
            any_said = any(s == VALUE for s, _ in risk_said.values()) or any(
                self.present(c.field)
                and not c.field.is_blank(
                    c.field.pick([self.cell(row, r) for r in c.field.columns], m.placeholders)[0],
                    m.placeholders,
                )
                for c in m.controls
            )
            if m.risk_fields and any_said:
                risk = risk_said
                parsed["risk"] = {k: v for k, (s, v) in risk_said.items() if s == VALUE}
        attestations = {}
        for control in m.controls:
            f = control.field
            if not self.present(f):
                continue
            raw_value = f.pick([self.cell(row, r) for r in f.columns], m.placeholders)[0]
            if f.is_blank(raw_value, m.placeholders):
                continue
            if f.type == "text":
                status, evidence = "attested", f.parse(raw_value, m.placeholders)[0]
            else:
                got = self.read(f, row)
                if got is None or got[0] != VALUE:
                    continue  # unmapped: counted, not guessed
                status = got[1]
                evidence = f"Reported in the {m.label} inventory as: {clean(raw_value)}"
            attestations[control.code] = {
                "status": status,
                "evidence": evidence,
                "source_data": {"source": m.source, "column": f.column, "raw": raw_value},
            }
        stage_date = None
        for date_field in ("stage_entered_on", "started_on"):
            got = fields.get(date_field)
            if got and got[0] == VALUE:
                stage_date = got[1]
                break
        fields.pop("stage_entered_on", None)  # not a model field: it dates the stage

        return RowPlan(
            row=rownum,
            top_text=top_text,
            top_name=top_name[:200],
            levels=path,
            name=name,
            ident=ident,
            fallback_idents=fallback_idents,
            fields=fields,
            data={"format": m.name, "parsed": parsed},
            raw=raw,
            stage_raw=clean(
                m.fields["stage"].pick(
                    [self.cell(row, r) for r in m.fields["stage"].columns], m.placeholders
                )[0]
            )
            if "stage" in m.fields
            else "",
            stage_date=stage_date,
            risk=risk,
            attestations=attestations,
        )


class _Skip(Exception):
    pass


# --- units ---------------------------------------------------------------------------


def _slugs_for(new_codes: list[str]) -> dict[str, str]:
    wanted = {c: slugify(c)[:80] or _digest(c) for c in new_codes}
    taken = set(
        BusinessUnit.objects.filter(slug__in=wanted.values()).values_list("slug", flat=True)
    )
    out, seen = {}, set()
    for c, s in wanted.items():
        if s in taken or s in seen:
            s = f"{s[:71]}-{_digest(c, length=8)}"
        seen.add(s)
        out[c] = s
    return out


def _free_codes(wanted: dict[Any, str]) -> dict[Any, str]:
    """Codes for new units, made unique against the table and each other."""
    taken = set(
        BusinessUnit.objects.filter(code__in=set(wanted.values())).values_list("code", flat=True)
    )
    out = {}
    for k, code in wanted.items():
        if code in taken:
            code = f"{code[:31]}-{_digest(*map(str, k), length=8)}"
        taken.add(code)
        out[k] = code
    return out


def _ensure_units(plans: list[RowPlan], m: Mapping) -> int:
    """Resolve each row's unit path (top-level units by code, the mapping's aliases, then
    name; child units by name under their parent), creating what is missing with one
    bulk insert per level; set ``top_code`` and ``unit_id``."""
    tops = list(BusinessUnit.objects.filter(parent__isnull=True).values("id", "code", "name"))
    by_code = {t["code"]: t for t in tops}
    by_name = {}
    for t in tops:
        by_name.setdefault(norm(t["name"]), t)
    alias_of = {}
    for code, spellings in m.unit_aliases.items():
        for s in (code, *spellings):
            alias_of[norm(s)] = code
    created = 0
    new_tops: dict[str, str] = {}
    resolved: dict[tuple[str, str], tuple[str, int | None]] = {}
    for p in plans:
        k = (p.top_text, p.top_name)
        if k in resolved:
            continue
        code = alias_of.get(norm(p.top_text)) or _unit_code(p.top_text)
        if code in by_code:
            hit = by_code[code]
        else:
            hit = by_name.get(norm(p.top_text)) or (
                by_name.get(norm(p.top_name)) if p.top_name else None
            )
        if hit is not None:
            resolved[k] = (hit["code"], hit["id"])
        else:
            new_tops.setdefault(code, p.top_name or code)
            resolved[k] = (code, None)
    if new_tops:
        slugs = _slugs_for(list(new_tops))
        objs = BusinessUnit.objects.bulk_create(
            [BusinessUnit(code=c, slug=slugs[c], name=n[:200]) for c, n in new_tops.items()]
        )
        by_code.update({o.code: {"id": o.id, "code": o.code, "name": o.name} for o in objs})
        created += len(objs)
    for p in plans:
        code, _ = resolved[(p.top_text, p.top_name)]
        p.top_code = code
        p.unit_id = by_code[code]["id"]
    codes = {by_code[c]["id"]: c for c in by_code}

    # Child levels, one level at a time: (parent id, normalised name) -> unit id.
    depth = max((len(p.levels) for p in plans), default=0)
    for level in range(depth):
        at = [p for p in plans if len(p.levels) > level]
        parents = {p.unit_id for p in at}
        children = {}
        for row in BusinessUnit.objects.filter(parent_id__in=parents).values(
            "id", "code", "name", "parent_id"
        ):
            children.setdefault((row["parent_id"], norm(row["name"])), row["id"])
            codes[row["id"]] = row["code"]
        missing: dict[tuple[int, str], str] = {}
        for p in at:
            name, n = p.levels[level]
            k = (p.unit_id, n)
            if k not in children and k not in missing:
                missing[k] = name
        if missing:
            wanted = {k: _child_code(codes[k[0]], k[1]) for k in sorted(missing)}
            free = _free_codes(wanted)
            slugs = _slugs_for(list(free.values()))
            objs = BusinessUnit.objects.bulk_create(
                [
                    BusinessUnit(code=free[k], slug=slugs[free[k]], name=missing[k], parent_id=k[0])
                    for k in wanted
                ]
            )
            for k, o in zip(wanted, objs, strict=True):
                children[k] = o.id
                codes[o.id] = o.code
            created += len(objs)
        for p in at:
            p.unit_id = children[(p.unit_id, p.levels[level][1])]
    return created


# --- matching ------------------------------------------------------------------------


def _keys_and_collisions(plans: list[RowPlan], rejections: list[dict]) -> list[RowPlan]:
    seen: dict[str, int] = {}
    kept = []
    for p in plans:
        if p.ident:
            p.source_key = f"{p.top_code}/{p.ident}"
            clash = f"id {p.ident!r}, like row {{}}"
        else:
            child = "/".join(n for _, n in p.levels)
            p.source_key = f"{p.top_code}/~{_digest(child, norm(p.name), length=20)}"
            clash = f"no id and the same unit and name {p.name!r} as row {{}}"
        if p.source_key in seen:
            rejections.append(
                {
                    "row": p.row,
                    "reason": f"Collides with another row: {clash.format(seen[p.source_key])}; "
                    "not merged.",
                }
            )
            continue
        seen[p.source_key] = p.row
        kept.append(p)
    return kept


def _match(plans: list[RowPlan], m: Mapping, existing: dict[str, dict]) -> list[dict]:
    """Set ``initiative_id`` and ``how`` on each plan: by its key, then the mapping's
    fallbacks; return the notes on rows a fallback could not decide."""
    by_name: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for key, row in existing.items():
        by_name[(key.split("/", 1)[0], norm(row["name"]))].append(row)
    claimed: set[int] = set()
    notes = []
    for p in plans:
        row = existing.get(p.source_key)
        if row is not None and row["id"] not in claimed:
            p.how = "id" if p.ident else "name"
        else:
            row = None
            for step, ident in zip(m.key_fallbacks, p.fallback_idents, strict=True):
                if step.kind == "id":
                    if not ident:
                        continue
                    cand = existing.get(f"{p.top_code}/{ident}")
                    if cand is not None and cand["id"] not in claimed:
                        row, p.how = cand, step.label
                        break
                    continue
                cands = [
                    c
                    for c in by_name.get((p.top_code, norm(p.name)), [])
                    if c["id"] not in claimed
                    # an id is an identity: two different ids are two use cases
                    and (not p.ident or "/~" in c["source_key"])
                ]
                if len(cands) > 1:
                    same_unit = [c for c in cands if c["business_unit_id"] == p.unit_id]
                    cands = same_unit if len(same_unit) == 1 else cands
                if len(cands) == 1:
                    row, p.how = cands[0], "name"
                    break
                if len(cands) > 1:
                    notes.append(
                        {
                            "row": p.row,
                            "note": f"{len(cands)} stored initiatives are named {p.name!r} "
                            f"in {p.top_code}: not matched by name.",
                        }
                    )
        if row is None:
            p.how = "new"
            continue
        claimed.add(row["id"])
        p.initiative_id = row["id"]
    return notes


# --- the service ---------------------------------------------------------------------


def inventory_import(
    *,
    acting_user,
    data: bytes,
    filename: str,
    mapping: Mapping,
    dry_run: bool = False,
    keep_valid_rows: bool = False,
    allow_missing_columns: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Import an inventory file; return the report (see the module docstring).

    Raises ``InventoryFileError`` when the file cannot be read at all and
    ``PermissionDenied`` when ``acting_user`` may not change the whole portfolio
    (``acting_user=None`` is the command line's operator).
    """
    if acting_user is not None and not has_global(acting_user, "portfolio.add_initiative"):
        raise PermissionDenied("Only PMO staff may import an inventory.")
    table = read_table(
        data,
        filename=filename,
        required_columns=mapping.required_columns,
        aliases=mapping.aliases,
        scan_rows=mapping.scan_rows,
        sheet=mapping.sheet,
        records=mapping.records,
    )
    columns, missing = resolve_columns(table, mapping)
    mapped = len(mapping.column_refs())
    total = len(table.rows)
    report: dict[str, Any] = {
        "format": mapping.name,
        "source": mapping.source,
        "file": filename,
        "encoding": table.encoding,
        "header_row": table.header_row,
        "dry_run": dry_run,
        "keep_valid_rows": keep_valid_rows,
        "rows_read": total,
        "blank_lines_skipped": table.blank_rows,
        "missing_columns": missing,
        "mapped_columns": mapped,
        "nul_removed": table.nul_removed,
        "warnings": [],
    }
    if missing:
        report["warnings"].append(
            f"{len(missing)} of {mapped} mapped columns are not in the file: "
            f"{', '.join(missing)}. Their fields were left as they were."
        )
    if table.nul_removed:
        report["warnings"].append(
            f"{table.nul_removed} NUL characters were removed from cells (a database cannot "
            "store them)."
        )
    if (
        missing
        and len(missing) > mapping.missing_columns_limit * mapped
        and not allow_missing_columns
    ):
        report.update(_empty_counts(total))
        report.update(
            {
                "applied": False,
                "refused": True,
                "message": (
                    f"Nothing was written: {len(missing)} of the {mapped} columns the "
                    f"{mapping.label} mapping reads are not in the file (is it another layout?). "
                    "Choose to go on anyway if that is expected."
                ),
            }
        )
        return report

    planner = _Planner(mapping, table, columns)
    plans: list[RowPlan] = []
    rejections: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for i, (rownum, row) in enumerate(table.rows, start=1):
        try:
            plans.append(planner.plan(rownum, row))
        except _Rejection as exc:
            rejections.append({"row": rownum, "reason": str(exc)})
        except _Skip as exc:
            skipped.append({"row": rownum, "reason": str(exc)})
        if progress and i % 500 == 0:
            progress(i // 2, total, f"Read {i} of {total} rows")

    with transaction.atomic():
        with acting_as(acting_user):
            # Imports of one source run one at a time (two uploads of the same inventory
            # would otherwise both see a key as new); the lock ends with the transaction.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s)",
                    [int(_digest("inventory", mapping.source), 16) >> 1],
                )
            units_created = _ensure_units(plans, mapping)
            plans = _keys_and_collisions(plans, rejections)
            counts = _apply(plans, mapping, filename, progress, total, acting_user)
        counts["units_created"] = units_created
        rejected = len(rejections)
        applied = not dry_run and (rejected == 0 or keep_valid_rows)
        if not applied:
            transaction.set_rollback(True)
    rejections.sort(key=lambda r: r["row"])
    outcomes = Counter(p.outcome for p in plans)
    hows = Counter(p.how for p in plans)
    report.update(
        {
            "created": outcomes["created"],
            "updated": outcomes["updated"],
            "unchanged": outcomes["unchanged"],
            "rejected": rejected,
            "skipped": len(skipped),
            "applied": applied,
            "refused": False,
            "rejections": rejections,
            "skipped_rows": skipped,
            "matched": {k: hows[k] for k in sorted(hows)},
            "matches": [
                {"row": p.row, "how": p.how, "key": p.source_key, "name": p.name[:120]}
                for p in sorted(plans, key=lambda p: p.row)
            ],
            "unmapped": {
                col: dict(counter.most_common())
                for col, counter in sorted(planner.unmapped.items())
            },
            **counts,
        }
    )
    if counts.get("stages_kept_ended"):
        report["warnings"].append(
            f"{len(counts['stages_kept_ended'])} ended initiatives (retired or killed) were "
            "reported in another stage: an ended initiative does not move again; kept ended."
        )
    if counts.get("units_kept"):
        report["warnings"].append(
            f"{len(counts['units_kept'])} initiatives reported in another unit were not moved: "
            "their owners have no access to the new unit (see units_kept)."
        )
    if counts.get("match_notes"):
        report["warnings"].append(
            f"{len(counts['match_notes'])} rows could not be matched by name (several stored "
            "initiatives share it): they were created as new."
        )
    if dry_run:
        report["message"] = "Dry run: nothing was written."
    elif not applied:
        report["message"] = (
            f"Nothing was written: {rejected} rows were rejected. Fix them, or choose to keep "
            "the valid rows."
        )
    else:
        report["message"] = "Imported."
    if missing:
        report["message"] += f" {len(missing)} mapped columns are not in the file: see warnings."
    assert total == sum(
        report[k] for k in ("created", "updated", "unchanged", "rejected", "skipped")
    )
    return report


def _empty_counts(total: int) -> dict[str, Any]:
    return {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "skipped": 0,
        "not_processed": total,
        "rejections": [],
        "skipped_rows": [],
        "matched": {},
        "matches": [],
        "unmapped": {},
        "fields": {},
        "units_created": 0,
        "stage_transitions": 0,
        "stages_kept_ended": [],
        "units_kept": [],
        "stage_dates_from_file": 0,
        "stage_dates_at_import": 0,
        "not_in_file": 0,
        "risk_assessments_created": 0,
        "risk_assessments_updated": 0,
        "risk_assessments_kept": 0,
        "attestations_created": 0,
        "attestations_updated": 0,
        "attestations_kept": 0,
    }


class _FieldCounts:
    """Per field: set (nothing was stored), changed, kept (the file says what is
    stored), would_clear (a blank cell kept the stored value), cleared (opted in)."""

    def __init__(self):
        self.c: dict[str, Counter] = defaultdict(Counter)

    def merge(self, name: str, stored: Any, empty: Any, said: tuple[str, Any], clear: bool):
        """The value to store, given what is ``stored`` and what the file ``said``."""
        status, value = said
        if status == VALUE:
            if stored == value:
                self.c[name]["kept"] += 1
            elif stored == empty or stored is None:
                self.c[name]["set"] += 1
            else:
                self.c[name]["changed"] += 1
            return value
        if stored == empty or stored is None:
            return stored
        if clear:
            self.c[name]["cleared"] += 1
            return empty
        self.c[name]["would_clear"] += 1
        return stored

    def new(self, name: str, said: tuple[str, Any]) -> None:
        if said[0] == VALUE:
            self.c[name]["set"] += 1

    def as_dict(self) -> dict[str, dict[str, int]]:
        keys = ("set", "changed", "kept", "would_clear", "cleared")
        return {n: {k: self.c[n][k] for k in keys} for n in sorted(self.c)}


def _stage_entered(stage: str, stage_date: dt.date | None, now, after=None):
    """When the initiative entered ``stage``: the file's date for it where it has one
    (never in the future, never before the stage it replaces), else now."""
    if stage_date is None or stage not in ACTIVE_STAGES:
        return now
    when = timezone.make_aware(dt.datetime.combine(stage_date, dt.time()))
    if when > now or (after is not None and when <= after):
        return now
    return when


def _apply(
    plans: list[RowPlan],
    m: Mapping,
    filename: str,
    progress: Progress | None,
    total: int,
    acting_user=None,
) -> dict[str, Any]:
    now = timezone.now()
    existing = {
        row["source_key"]: row
        for row in Initiative.objects.filter(source=m.source)
        .exclude(source_key="")
        .values("id", "source_key", "status", *INITIATIVE_READ)
    }
    notes = _match(plans, m, existing)
    by_id = {row["id"]: row for row in existing.values()}
    counts = _FieldCounts()
    if progress:
        progress(total // 2, total, "Units ready, rows matched")

    new_plans = [p for p in plans if p.initiative_id is None]
    codes = _unique_codes(new_plans)
    to_create = []
    for p in new_plans:
        values = {f: v for f, (s, v) in p.fields.items() if s == VALUE}
        for fname, said in p.fields.items():
            counts.new(fname, said)
        stage = values.get("stage", Initiative._meta.get_field("stage").default)
        if "stage" in m.fields and "stage" not in values:
            stage = values["stage"] = Stage.UNKNOWN
        to_create.append(
            Initiative(
                code=codes[p.source_key],
                business_unit_id=p.unit_id,
                source=m.source,
                source_key=p.source_key,
                source_data=_json({**p.data, "raw": p.raw}),
                status=Initiative.Status.CLOSED
                if stage in END_STAGES
                else Initiative.Status.ACTIVE,
                stage_entered_at=_stage_entered(stage, p.stage_date, now),
                **values,
            )
        )
        # The file's own date, or "not known": the import day is kept in stage_entered_at
        # for the stall rules but never presented as the day the stage was entered.
        to_create[-1].stage_date_known = to_create[-1].stage_entered_at != now
        p.outcome = "created"
    for start in range(0, len(to_create), BATCH):
        Initiative.objects.bulk_create(to_create[start : start + BATCH])
    for p, obj in zip(new_plans, to_create, strict=True):
        p.initiative_id = obj.pk
    dated = sum(1 for obj in to_create if obj.stage_entered_at != now)

    ancestors = _ancestors(
        {by_id[p.initiative_id]["business_unit_id"] for p in plans if p.how != "new"}
    )
    # Initiatives whose stage has never been decided or changed since they were created:
    # their stage date is the one the import gave them, which a file's date may correct.
    matched_ids = [p.initiative_id for p in plans if p.how != "new"]
    decided = set(
        StageTransition.objects.filter(initiative_id__in=matched_ids).values_list(
            "initiative_id", flat=True
        )
    )
    changed, stage_changes, changed_fields, ended = [], [], set(), []
    moves: dict[int, int] = {}
    taken_keys = set(existing)
    for p in plans:
        if p.how == "new":
            continue
        row = by_id[p.initiative_id]
        desired: dict[str, Any] = {}
        for fname, said in p.fields.items():
            if fname == "name":
                desired["name"] = said[1]
                counts.merge("name", row["name"], "", said, False)
                continue
            f = m.fields[fname]
            value = counts.merge(fname, row[fname], EMPTY[fname], said, f.clear)
            if fname == "stage" and not import_move_allowed(row["stage"], value):
                if value != Stage.UNKNOWN:
                    ended.append({"row": p.row, "stage": row["stage"], "reported": p.stage_raw})
                value = row["stage"]
            desired[fname] = value
        # The unit: a blank lower level keeps a unit below the one the file names.
        unit_id = p.unit_id
        if row["business_unit_id"] != unit_id and unit_id in ancestors.get(
            row["business_unit_id"], ()
        ):
            unit_id = row["business_unit_id"]
        desired["business_unit_id"] = unit_id
        old = row["source_data"] or {}
        parsed = {**(old.get("parsed") or {})}
        for k, v in p.data["parsed"].items():
            if v is not None and v != "" or k not in parsed:
                parsed[k] = v
        desired["source_data"] = {
            **p.data,
            "parsed": parsed,
            "raw": {**(old.get("raw") or {}), **p.raw},
        }
        if p.ident and p.source_key != row["source_key"] and p.source_key not in taken_keys:
            desired["source_key"] = p.source_key  # matched by a fallback: now keyed by id
            taken_keys.add(p.source_key)
        else:
            p.source_key = row["source_key"]
        stage = desired.get("stage", row["stage"])
        if (
            stage == row["stage"]
            and p.initiative_id not in decided
            and p.stage_date is not None
            and stage in ACTIVE_STAGES
        ):
            from_file = _stage_entered(stage, p.stage_date, now)
            # The file dates the stage: earlier than stored, or where the date was unknown.
            if from_file != now and (
                from_file < row["stage_entered_at"] or not row["stage_date_known"]
            ):
                desired["stage_entered_at"] = from_file
                desired["stage_date_known"] = True
        diff = {k: v for k, v in desired.items() if row.get(k) != v}
        if not diff:
            p.outcome = "unchanged"
            continue
        p.outcome = "updated"
        # A new unit is a move (every dependent row goes with it): portfolio's service.
        if "business_unit_id" in diff:
            moves[p.initiative_id] = diff.pop("business_unit_id")
        if "stage" in diff:
            entered = _stage_entered(diff["stage"], p.stage_date, now, row["stage_entered_at"])
            stage_changes.append((p, row["stage"], diff["stage"]))
            diff["stage_entered_at"] = entered
            diff["stage_date_known"] = entered != now
            status = (
                Initiative.Status.CLOSED
                if diff["stage"] in END_STAGES
                else Initiative.Status.ACTIVE
            )
            if status != row["status"]:
                diff["status"] = status
        diff["updated_at"] = now
        changed_fields |= set(diff)
        changed.append((p.initiative_id, diff))
    if changed:
        _bulk_update(Initiative, changed, changed_fields)
    refused = initiatives_move(acting_user=acting_user, moves=moves)
    units_kept = []
    for p in plans:
        if p.how == "new":
            continue
        if p.initiative_id in moves and p.initiative_id not in refused:
            p.unit_id = moves[p.initiative_id]
        else:
            # Kept where it is (a unit below the file's, or a refused move): its stage
            # history, assessments and attestations are written in the unit it is in.
            p.unit_id = by_id[p.initiative_id]["business_unit_id"]
        if p.initiative_id in refused:
            units_kept.append({"row": p.row, "reason": refused[p.initiative_id]})
    transitions = _record_stage_changes(stage_changes, m, filename, now)
    if progress:
        progress(total * 3 // 4, total, "Initiatives written")

    # Initiatives of this source the file no longer lists: reported, never deleted.
    matched = {p.initiative_id for p in plans}
    absent = len(set(by_id) - matched) if plans else 0
    ra_counts = _apply_risk(plans, m, now, counts)
    at_counts = _apply_attestations(plans, m, now, counts)
    return {
        # new initiatives whose stage is dated by the file, and those dated by the import
        "stage_dates_from_file": dated,
        "stage_dates_at_import": len(to_create) - dated,
        "stage_transitions": transitions,
        "stages_kept_ended": ended,
        "units_kept": units_kept,
        "not_in_file": absent,
        "fields": counts.as_dict(),
        "match_notes": notes,
        **ra_counts,
        **at_counts,
    }


def import_move_allowed(from_stage: str, to_stage: str) -> bool:
    """Whether an import may move a stored stage to the one a file reports: never back to
    unknown, and never out of an end (an ended initiative does not move again, as in the
    gate decisions' table, ``portfolio.transitions`` in lane rules' design); any other
    move is what the source says and is recorded as an ``import`` transition."""
    return to_stage != Stage.UNKNOWN and (from_stage == to_stage or from_stage not in END_STAGES)


def _ancestors(unit_ids: set[int]) -> dict[int, set[int]]:
    """Each unit's ancestors (one query per level of the tree)."""
    parent: dict[int, int | None] = {}
    todo = set(unit_ids)
    while todo:
        rows = dict(BusinessUnit.objects.filter(id__in=todo).values_list("id", "parent_id"))
        parent.update(rows)
        todo = {p for p in rows.values() if p is not None and p not in parent}
    out = {}
    for uid in unit_ids:
        seen, cur = set(), parent.get(uid)
        while cur is not None and cur not in seen:
            seen.add(cur)
            cur = parent.get(cur)
        out[uid] = seen
    return out


def _record_stage_changes(changes, m: Mapping, filename: str, now) -> int:
    """Each stage change an import makes, as an ``import`` transition naming the source
    and what it reported (one bulk insert)."""
    transitions = [
        StageTransition(
            initiative_id=p.initiative_id,
            business_unit_id=p.unit_id,
            from_stage=from_stage,
            to_stage=to_stage,
            decision=StageTransition.Decision.IMPORT,
            rationale=(
                f"Stage reported as {p.stage_raw or 'blank'} in the {m.label} "
                f"inventory ({filename})."
            ),
            decided_by=None,
            decided_at=now,
            source=m.source,
        )
        for p, from_stage, to_stage in changes
    ]
    StageTransition.objects.bulk_create(transitions, batch_size=BATCH)
    return len(transitions)


def _unique_codes(plans: list[RowPlan]) -> dict[str, str]:
    hints = {}
    for p in plans:
        if p.ident:
            hint = (
                p.ident if norm(p.ident).startswith(norm(p.top_code)) else f"{p.top_code}-{p.ident}"
            )
        else:
            child = "/".join(n for _, n in p.levels)
            hint = f"{p.top_code}-{_digest(child, norm(p.name), length=8).upper()}"
        hints[p.source_key] = hint[:60]
    taken = set(
        Initiative.objects.filter(code__in=set(hints.values())).values_list("code", flat=True)
    )
    out, used = {}, set(taken)
    for key, hint in hints.items():
        code = hint
        if code in used:
            code = f"{hint[:51]}-{_digest(key, length=8)}"
        used.add(code)
        out[key] = code
    return out


def _bulk_update(model, changed: list[tuple[int, dict[str, Any]]], fields: set[str]) -> None:
    """One UPDATE per batch for rows that differ; unchanged rows are never written. Every
    row in the batch gets every changed field, so the current values are read back for
    the fields a row does not change (from the same transaction)."""
    names = sorted(fields)
    current = {
        row["id"]: row
        for row in model.objects.filter(pk__in=[pk for pk, _ in changed]).values("id", *names)
    }
    objs = []
    for pk, diff in changed:
        obj = model(pk=pk)
        for name in names:
            setattr(obj, name, diff.get(name, current[pk][name]))
        objs.append(obj)
    model.objects.bulk_update(
        objs,
        [n.removesuffix("_id") if n == "business_unit_id" else n for n in names],
        batch_size=BATCH,
    )


def _json(value: dict[str, Any]) -> Value:
    """A JSON value as an expression. Django's PostgreSQL bulk insert otherwise sends each
    column as one array parameter (UNNEST), and psycopg escapes every quote of every JSON
    document in Python on the way: 4 of the 9 seconds of a first import of the federal
    file. An expression in the row makes Django use plain VALUES."""
    return Value(value, output_field=JSONField())


def _bump(p: RowPlan) -> None:
    if p.outcome == "unchanged":
        p.outcome = "updated"


def _apply_risk(plans: list[RowPlan], m: Mapping, now, counts: _FieldCounts) -> dict[str, int]:
    zero = {
        "risk_assessments_created": 0,
        "risk_assessments_updated": 0,
        "risk_assessments_kept": 0,
    }
    wanted = {p.initiative_id: p for p in plans if p.risk is not None}
    if not wanted:
        return zero
    live = (RiskAssessment.Status.CURRENT, RiskAssessment.Status.REOPENED)
    existing: dict[int, dict[str, Any]] = {}
    assessed_in_app: set[int] = set()
    for row in (
        RiskAssessment.objects.filter(initiative_id__in=list(wanted))
        .order_by("initiative_id", "-id")
        .values("id", "initiative_id", "business_unit_id", "status", *RISK_EMPTY, "source_data")
    ):
        if (row["source_data"] or {}).get("source") == m.source:
            existing.setdefault(row["initiative_id"], row)
        elif row["status"] in live:
            assessed_in_app.add(row["initiative_id"])
    new, changed, fields, kept = [], [], set(), 0
    for initiative_id, p in wanted.items():
        row = existing.get(initiative_id)
        parsed = {k: v for k, (s, v) in p.risk.items() if s == VALUE}
        source_data = {"source": m.source, "raw": _risk_raw(p, m), "parsed": parsed}
        if row is None:
            if initiative_id in assessed_in_app:
                kept += 1  # assessed in the app: the import does not add a rival
                continue
            values = dict(RISK_EMPTY)
            for fname, said in p.risk.items():
                if fname in RISK_MODEL:
                    counts.new(f"risk.{fname}", said)
                    if said[0] == VALUE:
                        values[RISK_MODEL[fname]] = said[1]
            new.append(
                RiskAssessment(
                    initiative_id=initiative_id,
                    business_unit_id=p.unit_id,
                    status=RiskAssessment.Status.CURRENT,
                    source_data=_json(source_data),
                    **values,
                )
            )
            _bump(p)
            continue
        desired: dict[str, Any] = {"business_unit_id": p.unit_id}
        for fname, said in p.risk.items():
            if fname not in RISK_MODEL:
                continue
            col = RISK_MODEL[fname]
            desired[col] = counts.merge(
                f"risk.{fname}", row[col], RISK_EMPTY[col], said, m.risk_fields[fname].clear
            )
        old = row["source_data"] or {}
        desired["source_data"] = {
            **source_data,
            "parsed": {**(old.get("parsed") or {}), **parsed},
        }
        diff = {k: v for k, v in desired.items() if row[k] != v}
        if diff:
            diff["updated_at"] = now
            fields |= set(diff)
            changed.append((row["id"], diff))
            _bump(p)
    RiskAssessment.objects.bulk_create(new, batch_size=BATCH)
    if changed:
        _bulk_update(RiskAssessment, changed, fields)
    if "tier" in m.risk_fields:
        _refresh_risk_tiers(list(wanted))
    return {
        "risk_assessments_created": len(new),
        "risk_assessments_updated": len(changed),
        "risk_assessments_kept": kept,
    }


def _risk_raw(p: RowPlan, m: Mapping) -> dict[str, str]:
    cols = [r.key for f in m.risk_fields.values() for r in f.columns]
    cols += [r.key for c in m.controls for r in c.field.columns]
    return {c: p.raw.get(c, "") for c in dict.fromkeys(cols)}


def _refresh_risk_tiers(initiative_ids: list[int]) -> None:
    """The initiative's risk tier is its current assessment's tier (one UPDATE, only for
    initiatives whose tier differs)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Initiative._meta.db_table} i SET risk_tier = ra.eu_tier, updated_at = now()
            FROM (
                SELECT DISTINCT ON (initiative_id) initiative_id, eu_tier
                FROM {RiskAssessment._meta.db_table}
                WHERE initiative_id = ANY(%s) AND status IN ('current', 'reopened')
                ORDER BY initiative_id, id DESC
            ) ra
            WHERE ra.initiative_id = i.id AND i.risk_tier <> ra.eu_tier
            """,
            [initiative_ids],
        )


def _controls(m: Mapping) -> dict[str, int]:
    """The mapping's controls, created once with stable codes (get or create, in bulk)."""
    codes = [c.code for c in m.controls]
    have = dict(Control.objects.filter(code__in=codes).values_list("code", "id"))
    missing = [c for c in m.controls if c.code not in have]
    if missing:
        Control.objects.bulk_create(
            [
                Control(
                    code=c.code,
                    name=c.name,
                    description=c.description or f"{m.label}: {c.name}",
                    # Scoped to the source: other units' obligations do not change.
                    source=m.source,
                )
                for c in missing
            ],
            ignore_conflicts=True,
        )
        have = dict(Control.objects.filter(code__in=codes).values_list("code", "id"))
    return have


def _apply_attestations(
    plans: list[RowPlan], m: Mapping, now, counts: _FieldCounts
) -> dict[str, int]:
    wanted = [p for p in plans if p.attestations]
    zero = {"attestations_created": 0, "attestations_updated": 0, "attestations_kept": 0}
    if not m.controls or not wanted:
        return zero
    control_ids = _controls(m)
    existing = {
        (row["initiative_id"], row["control_id"]): row
        for row in ControlAttestation.objects.filter(
            initiative_id__in=[p.initiative_id for p in wanted],
            control_id__in=control_ids.values(),
        ).values("id", "initiative_id", "control_id", "business_unit_id", *ATTESTATION_COMPARED)
    }
    new, changed, fields, kept = [], [], set(), 0
    for p in wanted:
        for code, spec in p.attestations.items():
            cid = control_ids[code]
            row = existing.get((p.initiative_id, cid))
            name = f"control.{code}"
            if row is None:
                counts.new(name, (VALUE, spec["status"]))
                new.append(
                    ControlAttestation(
                        initiative_id=p.initiative_id,
                        business_unit_id=p.unit_id,
                        control_id=cid,
                        **{**spec, "source_data": _json(spec["source_data"])},
                    )
                )
                _bump(p)
                continue
            if (row["source_data"] or {}).get("source") != m.source:
                kept += 1  # attested in the app: the import does not overwrite it
                continue
            counts.merge(name, row["status"], None, (VALUE, spec["status"]), False)
            desired = {**spec, "business_unit_id": p.unit_id}
            diff = {k: v for k, v in desired.items() if row[k] != v}
            if diff:
                diff["updated_at"] = now
                fields |= set(diff)
                changed.append((row["id"], diff))
                _bump(p)
    ControlAttestation.objects.bulk_create(new, batch_size=BATCH)
    if changed:
        _bulk_update(ControlAttestation, changed, fields)
    return {
        "attestations_created": len(new),
        "attestations_updated": len(changed),
        "attestations_kept": kept,
    }
