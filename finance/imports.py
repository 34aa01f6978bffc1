"""Spend postings into the ledger, in bulk: the one pipeline behind the file import
(CSV/XLSX), the ``import_spend`` command, the upload page, its Celery task and the API.

How it works, and why it is fast and bounded in memory:

1. **Load**: rows go into a temporary staging table of text columns with PostgreSQL's
   ``COPY`` (psycopg 3 ``cursor.copy()``). A CSV file is streamed to COPY in 1 MB chunks
   without being parsed in Python at all; an XLSX sheet is read with openpyxl in
   read-only mode, row by row; API rows are written one by one. Nothing holds the file.
2. **Validate** in one set-based statement: every rule (unknown initiative or one the
   user may not change, unknown kind or category, bad date, bad or zero amount,
   currency not in ``settings.CURRENCIES``, missing reference, a reference seen twice in
   the file, a reference that is already a posting in a unit the user may not change)
   becomes a ``(row, column, reason)`` error. The same statement matches each row to
   its existing posting (one join on the ``(source, reference)`` key), so scope is
   checked on both ends of a change: the initiative the row names and the posting it
   would overwrite.
3. **Write** valid rows with one ``UPDATE`` (matched postings with a changed field, by
   primary key) and one ``INSERT`` (new references); unchanged rows are not touched. pghistory's
   statement-level triggers record each statement's rows in one set-based insert, so
   the audit trail shows old and new, with the acting user from ``acting_as``.

The caller wraps it in a transaction: all or nothing unless ``keep_valid_rows``.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.db import connection

from finance.models import CostCategory, CostKind
from people.scoping import has_global, unit_ids_for

COLUMNS = ("date", "initiative", "kind", "category", "amount", "currency", "vendor", "reference")
REQUIRED = ("date", "initiative", "kind", "category", "amount", "currency", "reference")
#: At most this many errors are kept in reports (the count of rejected rows is exact).
MAX_ERRORS = 1000
_CHUNK = 1 << 20

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}

    def __str__(self) -> str:
        return f"Row {self.row}, {self.column}: {self.reason}"


@dataclass
class Outcome:
    rows_total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    file_error: str = ""
    written: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.file_error and not self.rejected


class FileFormatError(ValueError):
    """The file cannot be read at all (not CSV/XLSX, missing columns, broken CSV)."""


# --- 1. Staging ------------------------------------------------------------------------

_STAGING = """
CREATE TEMP SEQUENCE IF NOT EXISTS spend_staging_row START 2;
ALTER SEQUENCE spend_staging_row RESTART WITH 2;
DROP TABLE IF EXISTS spend_staging;
CREATE TEMP TABLE spend_staging (
    row_no bigint NOT NULL DEFAULT nextval('spend_staging_row'),
    "date" text, initiative text, initiative_id bigint, kind text, category text,
    amount text, currency text, vendor text, reference text, {extra}
    _end boolean
) ON COMMIT DROP
"""


def _create_staging(cursor, extra_columns: int = 0) -> None:
    extra = "".join(f"extra_{i} text, " for i in range(extra_columns))
    for statement in _STAGING.format(extra=extra).split(";"):
        if statement.strip():
            cursor.execute(statement)


def _header_columns(header: list[str]) -> list[str]:
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    missing = [c for c in COLUMNS if c not in names and c != "vendor"]
    if missing:
        raise FileFormatError(
            f"The header must name the columns {', '.join(COLUMNS)}; missing: {', '.join(missing)}."
        )
    seen, out, extra = set(), [], 0
    for name in names:
        if name in COLUMNS and name not in seen:
            seen.add(name)
            out.append(f'"{name}"')
        else:
            out.append(f"extra_{extra}")
            extra += 1
    return out


#: The header row is parsed in Python: it may be at most this long (and each of its cells
#: at most ``csv.field_size_limit()``, 128 KB); the rows after it go to COPY unparsed.
MAX_HEADER_BYTES = 64 * 1024


def load_csv(cursor, stream: IO[bytes], *, size: int = 0, progress: Progress | None = None) -> None:
    """Stream a UTF-8 CSV file (with a header row) into the staging table."""
    first = stream.readline(MAX_HEADER_BYTES + 1)
    if len(first) > MAX_HEADER_BYTES:
        raise FileFormatError(
            f"The header row (the first line) is longer than {MAX_HEADER_BYTES // 1024} KB: "
            "is this a CSV file with one row of column names?"
        )
    try:
        header = next(csv.reader([first.decode("utf-8-sig")]))
    except (UnicodeDecodeError, StopIteration) as exc:
        raise FileFormatError("The file is empty or not UTF-8 CSV text.") from exc
    except csv.Error as exc:  # e.g. a quoted cell longer than field_size_limit
        raise FileFormatError(f"The header row could not be read: {exc}.") from exc
    columns = _header_columns(header)
    _create_staging(cursor, sum(c.startswith("extra_") for c in columns))
    done = len(first)
    sql = f"COPY spend_staging ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
    raw = cursor.cursor  # psycopg's own cursor: COPY is not part of the DB-API
    try:
        with raw.copy(sql) as copy:
            while chunk := stream.read(_CHUNK):
                copy.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, size, "Loading the file")
    except Exception as exc:  # psycopg.errors.DataError and friends: a broken line
        if exc.__class__.__module__.startswith("psycopg"):
            diag = getattr(exc, "diag", None)
            context = getattr(diag, "context", "") or ""
            # COPY counts lines after the header we consumed: line 1 is the file's row 2.
            match = re.search(r"line (\d+)", context)
            where = f"row {int(match.group(1)) + 1}" if match else "the CSV"
            raise FileFormatError(
                f"The file could not be read at {where}: "
                f"{getattr(diag, 'message_primary', None) or exc}"
            ) from exc
        raise


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def load_xlsx(cursor, stream: IO[bytes], *, progress: Progress | None = None) -> None:
    """Read the first sheet of an XLSX workbook (read-only, row by row) into staging."""
    from django.core.exceptions import ValidationError
    from openpyxl import load_workbook

    from people.uploads import check_xlsx_unpacked_size

    try:
        check_xlsx_unpacked_size(stream)  # openpyxl holds the shared strings in memory
    except ValidationError as exc:
        raise FileFormatError(" ".join(exc.messages)) from exc
    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException
        raise FileFormatError("The file is not a readable XLSX workbook.") from exc
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if not header:
            raise FileFormatError("The sheet is empty.")
        columns = _header_columns([_cell(h) or "" for h in header])
        _create_staging(cursor, sum(c.startswith("extra_") for c in columns))
        total = sheet.max_row or 0
        sql = f"COPY spend_staging (row_no, {', '.join(columns)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for number, values in enumerate(rows, start=2):
                if not any(v not in (None, "") for v in values):
                    continue  # blank rows in a sheet are layout, not postings
                cells = [_cell(v) for v in values[: len(columns)]]
                cells += [None] * (len(columns) - len(cells))
                copy.write_row([number, *cells])
                if progress and number % 1000 == 0:
                    progress(number, total, "Loading the sheet")
    finally:
        workbook.close()


def load_rows(cursor, rows: Iterable[dict[str, Any]]) -> None:
    """API rows: ``initiative`` is a code (str) or an id (int); ``initiative_id`` also works;
    the date may be ``posted_on`` or ``date``. Numbered from 1."""
    _create_staging(cursor)
    sql = (
        "COPY spend_staging (row_no, date, initiative, initiative_id, kind, category, amount,"
        " currency, vendor, reference) FROM STDIN"
    )
    with cursor.cursor.copy(sql) as copy:
        for number, row in enumerate(rows, start=1):
            initiative = row.get("initiative")
            initiative_id = row.get("initiative_id")
            if isinstance(initiative, int) and not isinstance(initiative, bool):
                initiative_id, initiative = initiative, None
            elif hasattr(initiative, "pk"):
                initiative_id, initiative = initiative.pk, None
            if initiative_id is not None and not str(initiative_id).isdigit():
                initiative, initiative_id = f"#{initiative_id}", None
            posted = row.get("posted_on", row.get("date"))
            copy.write_row(
                [
                    number,
                    _cell(posted),
                    _cell(initiative),
                    int(initiative_id) if initiative_id is not None else None,
                    _cell(row.get("kind")),
                    _cell(row.get("category")),
                    _cell(row.get("amount")),
                    _cell(row.get("currency")),
                    _cell(row.get("vendor")),
                    _cell(row.get("reference")),
                ]
            )


def open_rows(name: str, stream: IO[bytes]) -> str:
    """``"xlsx"`` or ``"csv"``, from the name or the file's first bytes."""
    head = stream.read(4)
    stream.seek(0)
    if name.lower().endswith(".xlsx") or head == b"PK\x03\x04":
        return "xlsx"
    return "csv"


# --- 2. Validation ---------------------------------------------------------------------


def _choices_sql(choices) -> str:
    """A VALUES list mapping lower-cased values and labels to the stored value."""
    pairs = []
    for value, label in choices:
        for key in {value.lower(), label.lower()}:
            pairs.append(f"('{key.replace(chr(39), chr(39) * 2)}', '{value}')")
    return ", ".join(pairs)


# Dates and amounts are checked in two tiers: a fast test made of plain string functions
# (LIKE, translate, substr: no regular expression) accepts the common shape, and only
# what it does not accept is tried against the strict rules. The fast test accepts a
# subset of what the strict rules accept, so the result is the strict rules' either way.
# Fast date: YYYY-MM-DD, all digits, year >= 1900, month 01-12, day 01-28 (always real).
_DATE_FAST = """(d.date_text LIKE '____-__-__' AND translate(d.date_text, '0123456789', '') = '--'
    AND substr(d.date_text, 1, 4) >= '1900' AND substr(d.date_text, 6, 2) BETWEEN '01' AND '12'
    AND substr(d.date_text, 9, 2) BETWEEN '01' AND '28')"""
# Strict date: the shape, then the calendar for days 29-31 (February, 30-day months).
_DATE_STRICT = r"""(
    d.date_text ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'
    AND (substr(d.date_text, 9, 2) <= '28'
         OR substr(d.date_text, 9, 2)::int <=
            EXTRACT(DAY FROM make_date(substr(d.date_text, 1, 4)::int,
                                       substr(d.date_text, 6, 2)::int, 1)
                             + INTERVAL '1 month - 1 day'))
    AND substr(d.date_text, 1, 4) >= '1900'
)"""
# Fast amount: unsigned digits, at most 12 before an optional point and 1-2 after it.
_AMOUNT_FAST = """(translate(d.amount_text, '0123456789', '') IN ('', '.') AND CASE
    WHEN strpos(d.amount_text, '.') = 0 THEN length(d.amount_text) BETWEEN 1 AND 12
    ELSE strpos(d.amount_text, '.') BETWEEN 2 AND 13
         AND length(d.amount_text) - strpos(d.amount_text, '.') BETWEEN 1 AND 2 END)"""
_AMOUNT_STRICT = r"d.amount_text ~ '^[+-]?[0-9]{1,12}([.][0-9]{1,2})?$'"


def unit_scope_sql(acting_user) -> tuple[str, list[Any]]:
    """The units whose postings ``acting_user`` may change, as an SQL condition on a
    column (a ``str.format`` template: ``{}`` is the column) and its parameters."""
    if has_global(acting_user, "finance.change_spendentry"):
        return "TRUE", []
    return "{} = ANY(%s)", [list(unit_ids_for(acting_user, "change"))]


def validate(cursor, *, acting_user, source: str) -> tuple[int, int, list[RowError]]:
    """Check every staged row; returns ``(rows, rejected_rows, first errors)``.

    Leaves ``spend_checked`` (valid and invalid rows, typed, with an ``ok`` flag and
    their errors) for :func:`write` and :func:`preview_counts`. One pass over the
    staging table: each cell is trimmed and typed once (the ``OFFSET 0`` subqueries keep
    the planner from copying the expressions into every rule that reads them), and the
    duplicate references come from one hash aggregate.
    """
    scope, scope_params = unit_scope_sql(acting_user)
    scope_sql, existing_scope_sql = (
        scope.format("s.business_unit_id"),
        scope.format("s.existing_unit_id"),
    )
    currencies = list(settings.CURRENCIES)
    cursor.execute("DROP TABLE IF EXISTS spend_checked")
    cursor.execute(
        f"""
        CREATE TEMP TABLE spend_checked ON COMMIT DROP AS
        WITH dups AS (
            SELECT btrim(reference) AS reference, MIN(row_no) AS first_row FROM spend_staging
            WHERE btrim(reference) <> '' GROUP BY 1 HAVING COUNT(*) > 1
        ), trimmed AS (
            SELECT st.row_no, st.initiative_id AS given_id, btrim(st.initiative) AS code,
                   NULLIF(btrim(st."date"), '') AS date_text,
                   NULLIF(lower(btrim(st.kind)), '') AS kind_text,
                   NULLIF(lower(btrim(st.category)), '') AS category_text,
                   NULLIF(btrim(st.amount), '') AS amount_text,
                   NULLIF(upper(btrim(st.currency)), '') AS currency_text,
                   COALESCE(btrim(st.vendor), '') AS vendor,
                   COALESCE(btrim(st.reference), '') AS reference
            FROM spend_staging st
            OFFSET 0
        ), staged AS (
            SELECT d.*,
                   CASE WHEN {_DATE_FAST} OR {_DATE_STRICT} THEN d.date_text::date END
                       AS posted_on,
                   CASE WHEN {_AMOUNT_FAST} OR {_AMOUNT_STRICT}
                        THEN d.amount_text::numeric(14, 2) END AS amount
            FROM trimmed d
            OFFSET 0
        ), matched AS (
            SELECT s.*,
                   CASE WHEN s.given_id IS NOT NULL THEN ii.id ELSE ic.id END AS initiative_id,
                   CASE WHEN s.given_id IS NOT NULL THEN ii.business_unit_id
                        ELSE ic.business_unit_id END AS business_unit_id,
                   e.id AS existing_id, e.business_unit_id AS existing_unit_id,
                   e.posted_on AS e_posted_on, e.initiative_id AS e_initiative_id,
                   e.kind AS e_kind, e.category AS e_category, e.amount AS e_amount,
                   e.currency AS e_currency, e.vendor AS e_vendor
            FROM staged s
            LEFT JOIN portfolio_initiative ic ON ic.code = s.code
            LEFT JOIN portfolio_initiative ii ON ii.id = s.given_id
            LEFT JOIN finance_spendentry e ON e.source = %s AND e.reference = s.reference
                 AND NOT (e.reference = '')
        ), typed AS (
            SELECT s.*, ({scope_sql}) AS in_scope, ({existing_scope_sql}) AS existing_in_scope,
                   k.value AS kind, c.value AS category,
                   COALESCE(d.first_row, s.row_no) AS first_row
            FROM matched s
            LEFT JOIN dups d ON d.reference = s.reference
            LEFT JOIN (VALUES {_choices_sql(CostKind.choices)}) AS k(key, value)
                   ON k.key = s.kind_text
            LEFT JOIN (VALUES {_choices_sql(CostCategory.choices)}) AS c(key, value)
                   ON c.key = s.category_text
        ), checked AS (
            SELECT t.row_no, t.initiative_id, t.business_unit_id, t.posted_on, t.kind,
                   t.category, t.amount, t.currency_text AS currency, t.vendor, t.reference,
                   t.existing_id,
                   t.existing_id IS NOT NULL AND (
                       t.e_posted_on, t.e_initiative_id, t.existing_unit_id, t.e_kind,
                       t.e_category, t.e_amount, t.e_currency, t.e_vendor
                   ) IS DISTINCT FROM (
                       t.posted_on, t.initiative_id, t.business_unit_id, t.kind, t.category,
                       t.amount, t.currency_text, t.vendor) AS changed,
                   ARRAY_REMOVE(ARRAY[
                     CASE WHEN COALESCE(t.code, '') = '' AND t.given_id IS NULL
                          THEN 'initiative|is required'
                          WHEN t.initiative_id IS NULL OR NOT t.in_scope
                          THEN 'initiative|unknown initiative ' || quote_literal(COALESCE(t.code, '#' || t.given_id))
                               || ', or not one whose spend you may change' END,
                     CASE WHEN t.date_text IS NULL THEN 'date|is required'
                          WHEN t.posted_on IS NULL
                          THEN 'date|' || quote_literal(t.date_text) || ' is not a date (use YYYY-MM-DD)'
                          WHEN t.posted_on > CURRENT_DATE + 366
                          THEN 'date|' || quote_literal(t.date_text) || ' is more than a year ahead' END,
                     CASE WHEN t.kind_text IS NULL THEN 'kind|is required'
                          WHEN t.kind IS NULL
                          THEN 'kind|unknown kind ' || quote_literal(t.kind_text) || ' (one_time or operational)' END,
                     CASE WHEN t.category_text IS NULL THEN 'category|is required'
                          WHEN t.category IS NULL
                          THEN 'category|unknown category ' || quote_literal(t.category_text) END,
                     CASE WHEN t.amount_text IS NULL THEN 'amount|is required'
                          WHEN t.amount IS NULL
                          THEN 'amount|' || quote_literal(t.amount_text)
                               || ' is not an amount (digits, an optional sign and up to 2 decimals, e.g. 1234.56)'
                          WHEN t.amount = 0 THEN 'amount|must not be zero' END,
                     CASE WHEN t.currency_text IS NULL THEN 'currency|is required'
                          WHEN NOT t.currency_text = ANY(%s)
                          THEN 'currency|' || quote_literal(t.currency_text)
                               || ' is not a configured currency (' || array_to_string(%s::text[], ', ') || ')' END,
                     CASE WHEN length(t.vendor) > 200 THEN 'vendor|is longer than 200 characters' END,
                     CASE WHEN t.reference = '' THEN 'reference|is required (the posting''s id in the finance system)'
                          WHEN length(t.reference) > 100 THEN 'reference|is longer than 100 characters'
                          WHEN t.first_row <> t.row_no
                          THEN 'reference|' || quote_literal(t.reference) || ' appears again (first on row '
                               || t.first_row || ')'
                          WHEN t.existing_id IS NOT NULL AND NOT t.existing_in_scope
                          THEN 'reference|' || quote_literal(t.reference)
                               || ' is already a posting of this source that you may not change' END
                   ], NULL) AS errors
            FROM typed t
        )
        SELECT *, cardinality(errors) = 0 AS ok FROM checked
        """,
        [source, *scope_params, *scope_params, currencies, currencies],
    )
    cursor.execute("SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT ok) FROM spend_checked")
    total, rejected = cursor.fetchone()
    errors: list[RowError] = []
    if rejected:
        cursor.execute(
            """SELECT row_no, e FROM spend_checked, unnest(errors) AS e
               WHERE NOT ok ORDER BY row_no LIMIT %s""",
            [MAX_ERRORS],
        )
        for row_no, text in cursor.fetchall():
            column, reason = text.split("|", 1)
            errors.append(RowError(row=row_no, column=column, reason=reason))
    return total, rejected, errors


# --- 3. Writing ------------------------------------------------------------------------

#: First key of the advisory lock that serialises writes to one source.
_WRITE_LOCK = 0x5E4D

_COMPARED = ("posted_on", "initiative_id", "kind", "category", "amount", "currency", "vendor")


def lock_source(cursor, *, source: str) -> None:
    """Writes to one source take turns (the lock lasts until commit). Taken before
    :func:`validate` by an import that writes, so what validation found in the ledger
    (which references exist, in which unit) is still true when :func:`write` runs."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_WRITE_LOCK, source])


def write(cursor, *, source: str, batch_id: int | None, acting_user) -> tuple[int, int]:
    """Write the valid checked rows; returns ``(created, updated)``. Must run inside
    ``acting_as(acting_user)`` (the audit events carry its context), after
    :func:`lock_source` and :func:`validate` in the same transaction.

    Validation matched each row to its existing posting (``existing_id``) and rejected
    the rows whose posting the user may not change, so: changed postings are UPDATEd by
    primary key, new references INSERTed, unchanged ones not touched at all (no lock, no
    dead tuple, no event). The UPDATE checks the posting's unit once more (a posting
    moved to another unit meanwhile is left alone). The audit events come from
    pghistory's statement-level triggers, like every other write to the ledger: each
    statement records all its rows with one ``INSERT ... SELECT`` from its transition
    table, under the acting user's context.
    """
    # Idempotent within the transaction; the lock makes the anti-join that validation
    # did exact, so a plain INSERT suffices (ON CONFLICT's speculative insertion costs
    # every row a second index probe and WAL record).
    lock_source(cursor, source=source)
    scope, scope_params = unit_scope_sql(acting_user)
    changed = " OR ".join(f"e.{c} IS DISTINCT FROM c.{c}" for c in (*_COMPARED, "business_unit_id"))
    sets = ", ".join(f"{c} = c.{c}" for c in (*_COMPARED, "business_unit_id"))
    cursor.execute(
        f"""
        UPDATE finance_spendentry e
        SET {sets}, import_batch_id = %s, updated_at = NOW()
        FROM spend_checked c
        WHERE c.ok AND c.changed AND e.id = c.existing_id AND e.source = %s
          AND ({scope.format("e.business_unit_id")}) AND ({changed})
        """,
        [batch_id, source, *scope_params],
    )
    updated = cursor.rowcount
    cursor.execute(
        """
        INSERT INTO finance_spendentry (
            created_at, updated_at, business_unit_id, initiative_id, posted_on, kind,
            category, amount, currency, vendor, source, reference, import_batch_id,
            entered_by_id)
        SELECT NOW(), NOW(), c.business_unit_id, c.initiative_id, c.posted_on, c.kind,
               c.category, c.amount, c.currency, c.vendor, %s, c.reference, %s, %s
        FROM spend_checked c
        WHERE c.ok AND c.existing_id IS NULL
        """,
        [source, batch_id, acting_user.pk if acting_user else None],
    )
    created = cursor.rowcount
    return created, updated


def preview_counts(cursor) -> tuple[int, int]:
    """What :func:`write` would do, without writing: ``(created, updated)``. Rows whose
    posting the user may not change are rejected rows, counted in neither."""
    cursor.execute(
        """
        SELECT COUNT(*) FILTER (WHERE existing_id IS NULL), COUNT(*) FILTER (WHERE changed)
        FROM spend_checked WHERE ok
        """
    )
    return cursor.fetchone()


def first_rows(cursor, limit: int = 10) -> list[dict[str, Any]]:
    """The first staged rows as read, with their errors (for the upload preview)."""
    cursor.execute(
        """SELECT st.row_no, st."date", COALESCE(st.initiative, '#' || st.initiative_id),
                  st.kind, st.category, st.amount, st.currency, st.vendor, st.reference,
                  c.errors
           FROM spend_staging st JOIN spend_checked c USING (row_no)
           ORDER BY st.row_no LIMIT %s""",
        [limit],
    )
    names = ("row", *COLUMNS, "errors")
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def run(
    *,
    acting_user,
    source: str,
    loader: Callable[[Any], None],
    dry_run: bool,
    keep_valid_rows: bool,
    batch_id: int | None,
    preview_limit: int = 0,
    phase: Callable[[str], None] | None = None,
) -> tuple[Outcome, list[dict[str, Any]]]:
    """Load, validate and (unless told not to, or a row is bad and not ``keep_valid_rows``)
    write. The caller owns the transaction and the audit context."""
    outcome = Outcome()
    with connection.cursor() as cursor:
        started = time.perf_counter()
        loader(cursor)  # FileFormatError propagates: the caller's transaction is spoilt
        loaded = time.perf_counter()
        outcome.timings["load"] = loaded - started
        if phase:
            phase("validate")
        # Statistics for the planner (temp tables have none) and room to sort and hash a
        # million references in memory; both last until the transaction ends. No JIT:
        # compiling these statements took longer (0.5 s each) than it saved.
        cursor.execute("SET LOCAL work_mem = '128MB'")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("ANALYZE spend_staging")
        if not dry_run:
            lock_source(cursor, source=source)
        total, rejected, errors = validate(cursor, acting_user=acting_user, source=source)
        cursor.execute("ANALYZE spend_checked")
        outcome.timings["validate"] = time.perf_counter() - loaded
        outcome.rows_total, outcome.rejected, outcome.errors = total, rejected, errors
        preview = first_rows(cursor, preview_limit) if preview_limit else []
        valid = total - rejected
        if dry_run or (rejected and not keep_valid_rows):
            created, updated = preview_counts(cursor)
            outcome.created, outcome.updated = created, updated
            outcome.unchanged = valid - created - updated
            return outcome, preview
        if phase:
            phase("write")
        written = time.perf_counter()
        created, updated = write(cursor, source=source, batch_id=batch_id, acting_user=acting_user)
        outcome.timings["write"] = time.perf_counter() - written
        outcome.created, outcome.updated = created, updated
        outcome.unchanged = valid - created - updated
        outcome.written = True
    return outcome, preview
