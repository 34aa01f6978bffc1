"""``manage.py review_constraints [NAME ...] [--validate]``

Rule migrations add their check constraints NOT VALID (see
``portfolio/migrations/0010_transition_allowed_move.py``): PostgreSQL checks every new or
changed row at once, but rows written before the rule existed are left for a data review
instead of failing the migration. This command is that review: it lists every constraint
still NOT VALID with the number of rows that break it, and with ``--validate`` asks
PostgreSQL to validate each one that no row breaks (``ALTER TABLE ... VALIDATE
CONSTRAINT``, as the owner role: the app's role owns no table). A validated constraint
is trusted for every row, old ones included.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.management.base import BaseCommand
from django.db import connection

from portfolio.db_roles import as_owner

_NOT_VALID_SQL = """
SELECT cl.relname, c.conname, c.contype,
       pg_get_expr(c.conbin, c.conrelid),
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord),
       fcl.relname,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord)
FROM pg_constraint c
JOIN pg_class cl ON cl.oid = c.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace
LEFT JOIN pg_class fcl ON fcl.oid = c.confrelid
WHERE c.contype IN ('c', 'f') AND NOT c.convalidated AND n.nspname = current_schema()
ORDER BY cl.relname, c.conname
"""

_ALL_CHECKS_SQL = """
SELECT cl.relname, c.conname, pg_get_expr(c.conbin, c.conrelid)
FROM pg_constraint c
JOIN pg_class cl ON cl.oid = c.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE c.contype = 'c' AND n.nspname = current_schema()
ORDER BY cl.relname, c.conname
"""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Pending:
    table: str
    name: str
    kind: str  # "check" or "foreign key"
    violations: int


def _count_check(cursor, table: str, expr: str) -> int:
    # A CHECK passes when its expression is NULL: only a false one is a violation.
    cursor.execute(f"SELECT count(*) FROM {_q(table)} WHERE NOT COALESCE(({expr}), true)")
    return cursor.fetchone()[0]


def _count_fk(cursor, table: str, cols: list[str], ftable: str, fcols: list[str]) -> int:
    present = " AND ".join(f"t.{_q(c)} IS NOT NULL" for c in cols)
    match = " AND ".join(f"r.{_q(fc)} = t.{_q(c)}" for c, fc in zip(cols, fcols, strict=True))
    cursor.execute(
        f"SELECT count(*) FROM {_q(table)} t WHERE {present} "
        f"AND NOT EXISTS (SELECT 1 FROM {_q(ftable)} r WHERE {match})"
    )
    return cursor.fetchone()[0]


def not_valid_constraints(names: list[str] | None = None) -> list[Pending]:
    """Every NOT VALID check or foreign-key constraint (or those in ``names``), with the
    number of rows that break it: one count per constraint."""
    out = []
    with connection.cursor() as cursor:
        cursor.execute(_NOT_VALID_SQL)
        rows = cursor.fetchall()
        for table, name, contype, expr, cols, ftable, fcols in rows:
            if names and name not in names:
                continue
            if contype == "c":
                out.append(Pending(table, name, "check", _count_check(cursor, table, expr)))
            else:
                count = _count_fk(cursor, table, cols, ftable, fcols)
                out.append(Pending(table, name, "foreign key", count))
    return out


def check_violations() -> dict[str, int]:
    """Rows breaking each check constraint of the schema, validated or not, keyed
    ``table.constraint`` (the demo data's test: every count is zero)."""
    with connection.cursor() as cursor:
        cursor.execute(_ALL_CHECKS_SQL)
        checks = cursor.fetchall()
        return {
            f"{table}.{name}": _count_check(cursor, table, expr) for table, name, expr in checks
        }


def validate(pending: list[Pending]) -> list[Pending]:
    """As the owner: VALIDATE CONSTRAINT each of ``pending`` that no row breaks; returns
    those validated."""
    clean = [p for p in pending if p.violations == 0]
    if not clean:
        return []
    with as_owner(), connection.cursor() as cursor:
        for p in clean:
            cursor.execute(f"ALTER TABLE {_q(p.table)} VALIDATE CONSTRAINT {_q(p.name)}")
    return clean


class Command(BaseCommand):
    help = (
        "List every NOT VALID constraint (added by a rule migration without checking old "
        "rows) with the number of rows that break it; --validate validates, as the owner "
        "role (DATABASE_OWNER_URL), each one that no row breaks."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="Only these constraints (default: all)")
        parser.add_argument(
            "--validate",
            action="store_true",
            help="VALIDATE CONSTRAINT each listed constraint that no row breaks",
        )

    def handle(self, *args, **options):
        pending = not_valid_constraints(options["names"] or None)
        out = self.stdout
        if not pending:
            out.write("No NOT VALID constraints: every constraint holds for every row.")
            return
        for p in pending:
            state = "no violating rows" if p.violations == 0 else f"{p.violations} violating rows"
            out.write(f"{p.table}.{p.name} ({p.kind}, NOT VALID): {state}")
        if not options["validate"]:
            clean = sum(1 for p in pending if p.violations == 0)
            out.write(f"{clean} of {len(pending)} could be validated: run again with --validate.")
            return
        done = validate(pending)
        for p in done:
            out.write(self.style.SUCCESS(f"Validated {p.table}.{p.name}"))
        left = [p for p in pending if p.violations]
        for p in left:
            out.write(
                self.style.WARNING(
                    f"Left NOT VALID: {p.table}.{p.name}: fix its {p.violations} rows first."
                )
            )
