"""The maintained spend rollups (``SpendUnitMonth``, ``SpendInitiativeMonth``): their SQL.

PostgreSQL keeps them exact, not the app: statement-level ``AFTER`` triggers on the
ledger read the statement's transition tables (the rows it inserted, the old and new
versions of the rows it updated, the rows it deleted) and add the signed monthly sums to
the rollups in one ``INSERT ... ON CONFLICT DO UPDATE`` per rollup. So every path that
writes the ledger (the spend import's set-based statements, the API, forms, the admin,
deletes, a move of an initiative to another unit) keeps them exact without knowing they
exist, at the cost of one aggregate per statement, not per row.

The functions run with ``work_mem`` 64 MB: a bulk import's statement hands them
hundreds of thousands of rows, which the default 4 MB would sort on disk.

A change of exchange rates re-sums the months from the earliest rate it touches, under a
``SHARE`` lock on the ledger (writers wait, readers do not). The reporting currency is
baked into ``finance_reporting_currency()``; ``ensure_reporting_currency`` (run after
every migrate) rebuilds everything if ``settings.REPORTING_CURRENCY`` changed.

Conversion is the one rule of ``finance.selectors``: the reporting currency at rate 1,
any other currency at the latest rate with ``valid_from <= posted_on``; a posting with no
rate is counted in ``missing_entries`` and left out of the converted sums. Products of
two decimals summed unrounded, so rollup sums equal the ledger's to the last digit.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from portfolio.sql_triggers import (
    OPS,
    changed_rows,
    drop_statement_triggers,
    statement_trigger,
    statement_triggers,
)

LEDGER_COLUMNS = "business_unit_id, initiative_id, posted_on, kind, category, currency, amount"


def _apply(delta: str) -> str:
    """SQL adding the signed rows of ``delta`` (a SELECT of ``sign`` and
    ``LEDGER_COLUMNS``) to both rollups in one statement (one pass over the rows: a rate
    looked up once per currency and day, the rated rows then summed two ways), then
    dropping emptied rows.

    ``days`` must stay MATERIALIZED: inlined, the planner pulls the STABLE rate function
    up into the join's projection and calls it once per *row* (100,000 calls and 1 s for
    a 100,000-row import) instead of once per (currency, day)."""
    return f"""
    WITH delta AS ({delta}),
    days AS MATERIALIZED (
        SELECT d.currency, d.posted_on, finance_rate_on(d.currency, d.posted_on) AS rate
        FROM (SELECT DISTINCT currency, posted_on FROM delta) d
    ),
    c AS MATERIALIZED (
        SELECT delta.*, date_trunc('month', delta.posted_on)::date AS month, days.rate
        FROM delta JOIN days USING (currency, posted_on)
    ),
    unit_rollup AS (
        INSERT INTO finance_spendunitmonth AS t
            (business_unit_id, month, kind, category, currency, amount, converted,
             missing_entries, entries)
        SELECT business_unit_id, month, kind, category, currency, SUM(sign * amount),
               COALESCE(SUM(sign * amount * rate), 0),
               COALESCE(SUM(sign) FILTER (WHERE rate IS NULL), 0), SUM(sign)
        FROM c GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (business_unit_id, month, kind, category, currency) DO UPDATE SET
            amount = t.amount + EXCLUDED.amount,
            converted = t.converted + EXCLUDED.converted,
            missing_entries = t.missing_entries + EXCLUDED.missing_entries,
            entries = t.entries + EXCLUDED.entries
    )
    INSERT INTO finance_spendinitiativemonth AS t
        (initiative_id, business_unit_id, month, one_time, operational, missing_entries,
         entries)
    SELECT initiative_id, business_unit_id, month,
           COALESCE(SUM(sign * amount * rate) FILTER (WHERE kind = 'one_time'), 0),
           COALESCE(SUM(sign * amount * rate) FILTER (WHERE kind = 'operational'), 0),
           COALESCE(SUM(sign) FILTER (WHERE rate IS NULL), 0), SUM(sign)
    FROM c GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (initiative_id, business_unit_id, month) DO UPDATE SET
        one_time = t.one_time + EXCLUDED.one_time,
        operational = t.operational + EXCLUDED.operational,
        missing_entries = t.missing_entries + EXCLUDED.missing_entries,
        entries = t.entries + EXCLUDED.entries;
    DELETE FROM finance_spendunitmonth WHERE entries = 0;
    DELETE FROM finance_spendinitiativemonth WHERE entries = 0;"""


#: An updated posting counts only if one of the columns the rollups read changed.
_WATCHED = "r.id, " + ", ".join(f"r.{c.strip()}" for c in LEDGER_COLUMNS.split(","))

INSTALL_SQL = f"""
CREATE OR REPLACE FUNCTION finance_reporting_currency() RETURNS varchar
LANGUAGE sql IMMUTABLE AS $$ SELECT %(currency)s::varchar $$;

CREATE OR REPLACE FUNCTION finance_rate_on(cur varchar, day date) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN cur = finance_reporting_currency() THEN 1::numeric ELSE (
        SELECT r.rate FROM finance_exchangerate r
        WHERE r.currency = cur AND r.valid_from <= day
        ORDER BY r.valid_from DESC LIMIT 1) END
$$;

CREATE OR REPLACE FUNCTION finance_spend_rollup_insert() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    {_apply(f"SELECT 1 AS sign, {LEDGER_COLUMNS} FROM new_rows")}
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION finance_spend_rollup_delete() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    {_apply(f"SELECT -1 AS sign, {LEDGER_COLUMNS} FROM old_rows")}
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION finance_spend_rollup_update() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    {
    _apply(
        f"SELECT -1 AS sign, {LEDGER_COLUMNS} FROM {changed_rows(_WATCHED, 'old')} o"
        f" UNION ALL SELECT 1, {LEDGER_COLUMNS} FROM {changed_rows(_WATCHED, 'new')} n"
    )
}
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION finance_spend_rollup_rebuild(from_day date, currencies varchar[])
RETURNS void LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    from_month date := date_trunc('month', COALESCE(from_day, '0001-01-01'::date))::date;
BEGIN
    LOCK TABLE finance_spendentry IN SHARE MODE;
    DELETE FROM finance_spendunitmonth WHERE month >= from_month
        AND (currencies IS NULL OR currency = ANY(currencies));
    DELETE FROM finance_spendinitiativemonth WHERE month >= from_month;
    -- The initiative rollup has no currency column: it re-sums every currency of those
    -- months; the unit rollup only the currencies asked for.
    {
    _apply(
        f"SELECT 1 AS sign, {LEDGER_COLUMNS} FROM finance_spendentry WHERE posted_on >= from_month"
    ).replace(
        "FROM c GROUP BY 1, 2, 3, 4, 5",
        "FROM c WHERE currencies IS NULL OR currency = ANY(currencies) GROUP BY 1, 2, 3, 4, 5",
    )
}
END $$;

CREATE OR REPLACE FUNCTION finance_spend_rollup_rates() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM finance_spend_rollup_rebuild(
            (SELECT MIN(valid_from) FROM new_rates),
            (SELECT ARRAY_AGG(DISTINCT currency) FROM new_rates));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM finance_spend_rollup_rebuild(
            (SELECT MIN(valid_from) FROM old_rates),
            (SELECT ARRAY_AGG(DISTINCT currency) FROM old_rates));
    ELSE
        PERFORM finance_spend_rollup_rebuild(
            (SELECT MIN(d) FROM (SELECT valid_from FROM old_rates UNION ALL
                                 SELECT valid_from FROM new_rates) x(d)),
            (SELECT ARRAY_AGG(DISTINCT c) FROM (SELECT currency FROM old_rates UNION ALL
                                                SELECT currency FROM new_rates) y(c)));
    END IF;
    RETURN NULL;
END $$;

{
    "".join(
        statement_trigger(
            f"spend_rollup_{op}", op, "finance_spendentry", f"finance_spend_rollup_{op}"
        )
        for op in OPS
    )
}
{
    statement_triggers(
        "spend_rollup_rates",
        "finance_exchangerate",
        "finance_spend_rollup_rates",
        old="old_rates",
        new="new_rates",
    )
}
"""

UNINSTALL_SQL = f"""{drop_statement_triggers("spend_rollup", "finance_spendentry")}
{drop_statement_triggers("spend_rollup_rates", "finance_exchangerate")}
DROP FUNCTION IF EXISTS finance_spend_rollup_rates();
DROP FUNCTION IF EXISTS finance_spend_rollup_rebuild(date, varchar[]);
DROP FUNCTION IF EXISTS finance_spend_rollup_update();
DROP FUNCTION IF EXISTS finance_spend_rollup_delete();
DROP FUNCTION IF EXISTS finance_spend_rollup_insert();
DROP FUNCTION IF EXISTS finance_rate_on(varchar, date);
DROP FUNCTION IF EXISTS finance_reporting_currency();
"""


def install(schema_editor=None) -> None:
    """(Re)create the functions and triggers for the current reporting currency."""
    with connection.cursor() as cursor:
        cursor.execute(INSTALL_SQL.replace("%(currency)s", _quote(settings.REPORTING_CURRENCY)))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def rebuild(*, from_day=None, currencies: list[str] | None = None) -> None:
    """Re-sum the rollups from the ledger (all of it by default)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT finance_spend_rollup_rebuild(%s::date, %s::varchar[])", [from_day, currencies]
        )


def ensure_reporting_currency(**kwargs) -> None:
    """After migrate: if the reporting currency changed since the rollups were built,
    reinstall the functions and rebuild the rollups in the new currency."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regproc('finance_reporting_currency')")
        if cursor.fetchone()[0] is None:
            return  # not migrated yet
        cursor.execute("SELECT finance_reporting_currency()")
        if cursor.fetchone()[0] == settings.REPORTING_CURRENCY:
            return
    install()
    rebuild()
    from finance import value_rollup

    value_rollup.rebuild()  # segments are in the reporting currency too
