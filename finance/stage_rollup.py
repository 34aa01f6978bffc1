"""The spend rollup by stage (``SpendStageMonth``): its SQL.

``finance_spendinitiativemonth`` (kept by the ledger's triggers, finance/rollups.py)
summed per month by what each initiative is *now*: its unit, its stage and whether its
status is closed. Two sets of statement-level ``AFTER`` triggers keep it exact:

- on the monthly rollup: each statement's signed rows (inserted, old and new versions of
  updated, deleted) are added under their initiative's current key, in one
  ``INSERT ... ON CONFLICT DO UPDATE`` in key order;
- on ``portfolio_initiative``: an update that changes an initiative's unit, stage or
  closed status moves all its months from the old key to the new one; a delete takes
  them out. (Creating an initiative adds nothing: it has no spend yet.)

Concurrency: the first trigger locks the initiatives it adds under (``FOR SHARE``, in id
order) before reading their keys. So a concurrent change of stage either committed
before (the key read is the new one) or waits for the postings to commit, and its own
trigger, whose statements see what committed before they started, then moves those
postings' months too. Either order leaves every month under the initiative's key. The
cost: an import holds its initiatives for share until it commits (edits of those
initiatives wait; reads never do).

The table is not audited (a derived table, like the other rollups); ``rebuild`` re-sums
it from the monthly rollup.
"""

from __future__ import annotations

from django.db import connection

from portfolio.sql_triggers import (
    changed_rows,
    drop_statement_triggers,
    statement_trigger,
    statement_triggers,
)

COLUMNS = "initiative_id, month, one_time, operational, entries"
KEY = "business_unit_id, stage, closed, month"


def _add(rows: str) -> str:
    """One statement adding ``rows`` (a SELECT of ``sign``, the key columns and the
    amounts) to the rollup."""
    return f"""
    INSERT INTO finance_spendstagemonth AS t
        ({KEY}, one_time, operational, entries)
    SELECT {KEY}, SUM(sign * one_time), SUM(sign * operational), SUM(sign * entries)
    FROM ({rows}) d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (business_unit_id, stage, closed, month) DO UPDATE SET
        one_time = t.one_time + EXCLUDED.one_time,
        operational = t.operational + EXCLUDED.operational,
        entries = t.entries + EXCLUDED.entries"""


def _upsert(rows: str) -> str:
    """SQL adding ``rows`` to the rollup, then dropping emptied rows."""
    return f"{_add(rows)};\n    DELETE FROM finance_spendstagemonth WHERE entries = 0;"


def _from_months(delta: str) -> str:
    """Lock the initiatives of ``delta`` (signed monthly-rollup rows), then add the rows
    under each initiative's current key. Months of an initiative that no longer exists
    are skipped: its delete already took its months out."""
    return f"""
    PERFORM 1 FROM portfolio_initiative
    WHERE id IN (SELECT DISTINCT initiative_id FROM ({delta}) x)
    ORDER BY id FOR SHARE;
    {
        _upsert(
            "SELECT d.sign, i.business_unit_id, i.stage, i.status = 'closed' AS closed, "
            "d.month, d.one_time, d.operational, d.entries "
            f"FROM ({delta}) d JOIN portfolio_initiative i ON i.id = d.initiative_id"
        )
    }"""


def _months_of(initiatives: str, sign: int) -> str:
    """The monthly rows of ``initiatives`` (a SELECT of ``id`` and the key's unit,
    stage and closed columns), signed."""
    return (
        f"SELECT {sign} AS sign, k.business_unit_id, k.stage, k.closed, m.month, "
        "m.one_time, m.operational, m.entries "
        f"FROM ({initiatives}) k JOIN finance_spendinitiativemonth m ON m.initiative_id = k.id"
    )


def _quote(sql: str) -> str:
    """``sql`` as a SQL string literal (for EXECUTE)."""
    return "'" + sql.replace("'", "''") + "'"


KEY_OF = "r.id, r.business_unit_id, r.stage, r.status = 'closed' AS closed"

# The initiatives whose key changed (``changed_rows``: no join of the transition tables).
_MOVED_IDS = f"SELECT id FROM {changed_rows(KEY_OF, 'old')} x"

# Run with EXECUTE (the moved ids as $1), so it is planned for each statement: an index
# probe of the monthly rollup for one initiative, a hash join for thousands.
_MOVE = _add(
    _months_of(f"SELECT {KEY_OF} FROM old_rows r WHERE r.id = ANY($1)", -1)
    + " UNION ALL "
    + _months_of(f"SELECT {KEY_OF} FROM new_rows r WHERE r.id = ANY($1)", 1)
)


# On initiatives: a change of key moves the months, a delete takes them out (a new
# initiative has no spend yet, so no insert trigger).
_INITIATIVE_TRIGGERS = "".join(
    statement_trigger(
        f"spend_stage_{op}", op, "portfolio_initiative", "finance_spend_stage_initiatives"
    )
    for op in ("update", "delete")
)

INSTALL_SQL = f"""
CREATE OR REPLACE FUNCTION finance_spend_stage_months() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN
    IF TG_OP = 'INSERT' THEN
        {_from_months(f"SELECT 1 AS sign, {COLUMNS} FROM new_rows")}
    ELSIF TG_OP = 'DELETE' THEN
        {_from_months(f"SELECT -1 AS sign, {COLUMNS} FROM old_rows")}
    ELSE
        {
    _from_months(
        f"SELECT -1 AS sign, {COLUMNS} FROM old_rows UNION ALL SELECT 1, {COLUMNS} FROM new_rows"
    )
}
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION finance_spend_stage_initiatives() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    moved bigint[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        {_upsert(_months_of(f"SELECT {KEY_OF} FROM old_rows r", -1))}
    ELSIF TG_OP = 'UPDATE' THEN
        moved := ARRAY({_MOVED_IDS});
        IF cardinality(moved) > 0 THEN
            EXECUTE {_quote(_MOVE)} USING moved;
            DELETE FROM finance_spendstagemonth WHERE entries = 0;
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION finance_spend_stage_rebuild() RETURNS void
LANGUAGE plpgsql AS $$ BEGIN
    LOCK TABLE finance_spendinitiativemonth IN SHARE MODE;
    LOCK TABLE portfolio_initiative IN SHARE MODE;
    DELETE FROM finance_spendstagemonth;
    {_upsert(_months_of(f"SELECT {KEY_OF} FROM portfolio_initiative r", 1))}
END $$;

{statement_triggers("spend_stage", "finance_spendinitiativemonth", "finance_spend_stage_months")}
{_INITIATIVE_TRIGGERS}
"""

UNINSTALL_SQL = f"""{drop_statement_triggers("spend_stage", "finance_spendinitiativemonth")}
{drop_statement_triggers("spend_stage", "portfolio_initiative")}
DROP FUNCTION IF EXISTS finance_spend_stage_rebuild();
DROP FUNCTION IF EXISTS finance_spend_stage_initiatives();
DROP FUNCTION IF EXISTS finance_spend_stage_months();
"""


def install() -> None:
    with connection.cursor() as cursor:
        cursor.execute(INSTALL_SQL)


def rebuild() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT finance_spend_stage_rebuild()")
