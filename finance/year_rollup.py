"""The yearly spend rollup (``SpendInitiativeYear``): its SQL.

``finance_spendinitiativemonth`` (itself kept by the ledger's triggers, finance/rollups.py)
summed per initiative, unit and calendar year. Statement-level ``AFTER`` triggers on the
monthly rollup add each statement's signed rows (the inserted rows, the old and new
versions of the updated ones, the deleted ones) in one ``INSERT ... ON CONFLICT DO
UPDATE``, in key order, then drop emptied rows. A ledger statement already writes the
monthly rollup once, so this adds one small aggregate per ledger statement.
"""

from __future__ import annotations

from django.db import connection

from portfolio.sql_triggers import drop_statement_triggers, statement_triggers

COLUMNS = "initiative_id, business_unit_id, month, one_time, operational, entries"


def _apply(delta: str) -> str:
    return f"""
    INSERT INTO finance_spendinitiativeyear AS t
        (initiative_id, business_unit_id, year, amount, entries)
    SELECT initiative_id, business_unit_id, EXTRACT(YEAR FROM month)::int,
           SUM(sign * (one_time + operational)), SUM(sign * entries)
    FROM ({delta}) d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (initiative_id, business_unit_id, year) DO UPDATE SET
        amount = t.amount + EXCLUDED.amount, entries = t.entries + EXCLUDED.entries;
    DELETE FROM finance_spendinitiativeyear WHERE entries = 0;"""


INSTALL_SQL = f"""
CREATE OR REPLACE FUNCTION finance_spend_year_rollup() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN
    IF TG_OP = 'INSERT' THEN
        {_apply(f"SELECT 1 AS sign, {COLUMNS} FROM new_rows")}
    ELSIF TG_OP = 'DELETE' THEN
        {_apply(f"SELECT -1 AS sign, {COLUMNS} FROM old_rows")}
    ELSE
        {_apply(f"SELECT -1 AS sign, {COLUMNS} FROM old_rows UNION ALL SELECT 1, {COLUMNS} FROM new_rows")}
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION finance_spend_year_rebuild() RETURNS void
LANGUAGE plpgsql AS $$ BEGIN
    LOCK TABLE finance_spendinitiativemonth IN SHARE MODE;
    DELETE FROM finance_spendinitiativeyear;
    {_apply(f"SELECT 1 AS sign, {COLUMNS} FROM finance_spendinitiativemonth")}
END $$;

{statement_triggers("spend_year", "finance_spendinitiativemonth", "finance_spend_year_rollup")}
"""

UNINSTALL_SQL = f"""{drop_statement_triggers("spend_year", "finance_spendinitiativemonth")}
DROP FUNCTION IF EXISTS finance_spend_year_rebuild();
DROP FUNCTION IF EXISTS finance_spend_year_rollup();
"""


def install() -> None:
    with connection.cursor() as cursor:
        cursor.execute(INSTALL_SQL)


def rebuild() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT finance_spend_year_rebuild()")
