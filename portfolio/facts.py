"""The scorecard's per-initiative facts (``InitiativeFacts``): the portfolio columns' SQL.

One definition, ``portfolio_facts_refresh(ids)``: it recomputes ``aligned``,
``measured``, ``staffed`` and ``monitored_on`` of those initiatives from the raw rows
(and creates the row of an initiative that has none, deletes the row of one that no
longer exists). Statement-level ``AFTER`` triggers on every table the columns are read
from call it with the initiatives the statement touched (new and old versions of the
rows, only where a column that matters changed):

- ``portfolio_initiative`` (insert: the row; delete: its removal),
- ``portfolio_initiative_objectives`` (the objective links),
- ``portfolio_kpi`` (initiative, kind, baseline, ``last_measured_on``, itself kept by the
  measurements' triggers),
- ``portfolio_assignment`` (initiative, role).

Concurrency: the refresh locks the initiatives' facts rows (``FOR UPDATE``, in id order)
before it reads anything; its next statement sees what committed before it started. A
concurrent writer of the same initiative either committed first (seen) or recomputes
after this transaction commits (it waits on the lock), so no stale row survives.

``governance.facts`` keeps the governance columns the same way with its own function.
"""

from __future__ import annotations

from django.db import connection

from portfolio.sql_triggers import (
    changed_rows,
    drop_statement_triggers,
    statement_trigger,
    statement_triggers,
)

KEY_ROLES = ("requirements_owner", "operator", "accountable_executive")

REFRESH_SQL = f"""
CREATE OR REPLACE FUNCTION portfolio_facts_lock(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO portfolio_initiativefacts
        (initiative_id, aligned, measured, staffed, deployed)
    SELECT i.id, FALSE, FALSE, FALSE, FALSE FROM portfolio_initiative i
    WHERE i.id = ANY(ids) ORDER BY i.id
    ON CONFLICT (initiative_id) DO NOTHING;
    PERFORM 1 FROM portfolio_initiativefacts WHERE initiative_id = ANY(ids)
    ORDER BY initiative_id FOR UPDATE;
    DELETE FROM portfolio_initiativefacts f WHERE f.initiative_id = ANY(ids)
        AND NOT EXISTS (SELECT 1 FROM portfolio_initiative i WHERE i.id = f.initiative_id);
END $$;

CREATE OR REPLACE FUNCTION portfolio_facts_refresh(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN RETURN; END IF;
    PERFORM portfolio_facts_lock(ids);
    UPDATE portfolio_initiativefacts f SET
        aligned = EXISTS (SELECT 1 FROM portfolio_initiative_objectives o
                          WHERE o.initiative_id = f.initiative_id),
        measured = EXISTS (SELECT 1 FROM portfolio_kpi k
                           WHERE k.initiative_id = f.initiative_id AND k.kind = 'business'
                             AND k.baseline_value IS NOT NULL),
        staffed = (SELECT COUNT(DISTINCT a.role) FROM portfolio_assignment a
                   WHERE a.initiative_id = f.initiative_id
                     AND a.role IN {KEY_ROLES!r}) = {len(KEY_ROLES)},
        monitored_on = (SELECT MAX(k.last_measured_on) FROM portfolio_kpi k
                        WHERE k.initiative_id = f.initiative_id AND k.kind = 'operational')
    WHERE f.initiative_id = ANY(ids);
END $$;
""".replace("',)", "')")


def changed_ids(column: str, watched: tuple[str, ...]) -> str:
    """A plpgsql body calling ``%(refresh)s`` (replaced by the caller) with the
    ``column`` values (initiative ids) of the statement's rows: the new rows of an insert,
    the old of a delete, both versions of the updated rows in which one of ``watched``
    changed (``changed_rows``: no join of the two transition tables)."""
    cols = ", ".join(f"r.{c}" for c in dict.fromkeys(["id", column, *watched]))
    return f"""
    IF TG_OP = 'INSERT' THEN
        PERFORM %(refresh)s(ARRAY(SELECT DISTINCT {column} FROM new_rows
                                  WHERE {column} IS NOT NULL));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM %(refresh)s(ARRAY(SELECT DISTINCT {column} FROM old_rows
                                  WHERE {column} IS NOT NULL));
    ELSE
        PERFORM %(refresh)s(ARRAY(
            SELECT {column} FROM {changed_rows(cols, "old")} o WHERE {column} IS NOT NULL
            UNION
            SELECT {column} FROM {changed_rows(cols, "new")} n WHERE {column} IS NOT NULL));
    END IF;
    RETURN NULL;"""


SOURCES = {
    # table: (initiative id column, columns whose change matters on update)
    "portfolio_initiative_objectives": ("initiative_id", ("initiative_id", "objective_id")),
    "portfolio_kpi": (
        "initiative_id",
        ("initiative_id", "kind", "baseline_value", "last_measured_on"),
    ),
    "portfolio_assignment": ("initiative_id", ("initiative_id", "role")),
    # Its columns are not facts: only a new initiative (its row) and a deleted one.
    "portfolio_initiative": ("id", ()),
}


def trigger_function(table: str, column: str, watched: tuple[str, ...], refresh: str) -> str:
    """``{table}_facts()`` and its triggers: after each statement on ``table``, ``refresh``
    the initiatives it touched (insert and delete only when nothing ``watched``)."""
    body = changed_ids(column, watched or (column,)).replace("%(refresh)s", refresh)
    triggers = (
        statement_triggers("facts", table, f"{table}_facts")
        if watched
        else "".join(
            statement_trigger(f"facts_{op}", op, table, f"{table}_facts")
            for op in ("insert", "delete")
        )
    )
    return f"""
CREATE OR REPLACE FUNCTION {table}_facts() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN {body}
END $$;
{triggers}"""


def _function(table: str) -> str:
    column, watched = SOURCES[table]
    return trigger_function(table, column, watched, "portfolio_facts_refresh")


INSTALL_SQL = REFRESH_SQL + "".join(_function(t) for t in SOURCES)

UNINSTALL_SQL = (
    "".join(drop_statement_triggers("facts", t) for t in SOURCES)
    + "".join(f"\nDROP FUNCTION IF EXISTS {t}_facts();" for t in SOURCES)
    + """
DROP FUNCTION IF EXISTS portfolio_facts_refresh(bigint[]);
DROP FUNCTION IF EXISTS portfolio_facts_lock(bigint[]);
"""
)


def install() -> None:
    with connection.cursor() as cursor:
        cursor.execute(INSTALL_SQL)


def rebuild() -> None:
    """Recompute every initiative's portfolio facts (a row for each)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT portfolio_facts_refresh(ARRAY(SELECT id FROM portfolio_initiative))")
        cursor.execute(
            "DELETE FROM portfolio_initiativefacts f WHERE NOT EXISTS "
            "(SELECT 1 FROM portfolio_initiative i WHERE i.id = f.initiative_id)"
        )
