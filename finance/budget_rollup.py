"""The maintained budget rollup (``BudgetUnitYear``): its SQL.

Approved budget lines summed per unit, fiscal year, kind, category and currency. A
statement-level ``AFTER`` trigger on ``finance_budget`` (every INSERT, UPDATE and DELETE,
whatever path runs it: the budget services behind the forms and the API, the admin, a
move of an initiative to another unit, bulk SQL) takes the statement's old approved lines
out and puts its new approved lines in, in one ``INSERT ... ON CONFLICT DO UPDATE``, in
key order. Conversion to the reporting currency happens when read (the rate of the first
day of the fiscal year, as for a line: the sum of the lines times the rate is the sum of
each line times the rate, exactly), so exchange-rate changes need nothing here.
"""

from __future__ import annotations

from django.db import connection

from portfolio.sql_triggers import drop_statement_triggers, statement_triggers

COLUMNS = "business_unit_id, fiscal_year, kind, category, currency"


def _apply(delta: str) -> str:
    """SQL adding the signed approved lines of ``delta`` (``sign``, ``COLUMNS``, ``amount``
    and ``status``) to the rollup, then dropping emptied rows."""
    return f"""
    INSERT INTO finance_budgetunityear AS t ({COLUMNS}, amount, lines)
    SELECT {COLUMNS}, SUM(sign * amount), SUM(sign)
    FROM ({delta}) d WHERE status = 'approved'
    GROUP BY {COLUMNS} ORDER BY {COLUMNS}
    ON CONFLICT ({COLUMNS}) DO UPDATE SET
        amount = t.amount + EXCLUDED.amount, lines = t.lines + EXCLUDED.lines;
    DELETE FROM finance_budgetunityear WHERE lines = 0;"""


_LINE = f"{COLUMNS}, amount, status"

INSTALL_SQL = f"""
CREATE OR REPLACE FUNCTION finance_budget_rollup() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN
    IF TG_OP = 'INSERT' THEN
        {_apply(f"SELECT 1 AS sign, {_LINE} FROM new_rows")}
    ELSIF TG_OP = 'DELETE' THEN
        {_apply(f"SELECT -1 AS sign, {_LINE} FROM old_rows")}
    ELSE
        {
    _apply(
        f"SELECT -1 AS sign, {_LINE} FROM old_rows WHERE status = 'approved'"
        f" UNION ALL SELECT 1, {_LINE} FROM new_rows WHERE status = 'approved'"
    )
}
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION finance_budget_rollup_rebuild() RETURNS void
LANGUAGE plpgsql AS $$ BEGIN
    LOCK TABLE finance_budget IN SHARE MODE;
    DELETE FROM finance_budgetunityear;
    {_apply(f"SELECT 1 AS sign, {_LINE} FROM finance_budget")}
END $$;

{statement_triggers("budget_rollup", "finance_budget", "finance_budget_rollup")}
"""

UNINSTALL_SQL = f"""{drop_statement_triggers("budget_rollup", "finance_budget")}
DROP FUNCTION IF EXISTS finance_budget_rollup_rebuild();
DROP FUNCTION IF EXISTS finance_budget_rollup();
"""


def install() -> None:
    """(Re)create the function and triggers."""
    with connection.cursor() as cursor:
        cursor.execute(INSTALL_SQL)


def rebuild() -> None:
    """Re-sum the rollup from the budget lines."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT finance_budget_rollup_rebuild()")
