"""The maintained variance figures (``VarianceMonth``): their SQL.

A variance flag (``finance.selectors.variance_flags``) compares an initiative's
annualised run rate (its spend in the three complete months before the month of
``as_of``) with its approved budget for the year. Computed live, that reads every
initiative's rollup rows and budget lines on every request; this table holds, for each
initiative and month M, the two sums the flag of an ``as_of`` in M needs, so a page of
flags is an index range read:

- ``window_spend``: the initiative rollup's ``one_time + operational`` over months
  [M-3, M-1], every unit (the same numeric(32,10) sum ``budget_vs_actual`` divides by 3);
- ``budget``: its approved budget lines of M's year, each converted at the rate in force
  on 1 January of that year (unrounded).

and, as a generated column, ``flag_rank``: ``over_pct`` (or Infinity with no budget)
rounded half to even exactly as ``finance.selectors`` rounds it in Python (``_q``), so an
index orders flags by it: descending puts spending with no budget first, then the
largest overrun; it is also the flag condition's one range (``> threshold``), and a plain
column, so a count is an index-only scan.

PostgreSQL keeps it exact, like the spend rollups (finance/rollups.py): statement-level
triggers add signed deltas (commutative, so concurrent writers need no lock):

- on ``finance_spendinitiativemonth`` (which the ledger's own triggers keep exact on
  every write path, rate changes and rebuilds included): a change to month X adds to
  rows X+1, X+2 and X+3;
- on ``finance_budget``: an approved line (old: minus, new: plus) adds to the twelve
  months of its year;
- on ``finance_exchangerate``: the budgets in the changed currencies from the changed
  year on are re-summed under a ``SHARE`` lock on the budgets.

Invariants the deltas rely on (the rebuild establishes them): a row (i, M) exists
whenever i has rollup rows in [M-3, M-1] or approved budget lines in M's year, so a
trigger that creates a row may start the other sum at zero.

Rows are read only for users who see every unit (a unit lead's flags sum only the
lead's units: computed live, over the lead's initiatives only).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from portfolio.sql_triggers import statement_trigger, statement_triggers

# The figures as finance.selectors computes them in Python: ``monthly`` is PostgreSQL's
# ``SUM / 3`` (the same numeric division), ``run_rate`` = monthly x 12 and ``over_pct`` =
# 100 x (run_rate - budget) / budget, each rounded to two places half to even as
# ``Decimal.quantize`` does (``ROUND`` rounds half away from zero); 30 places before the
# division, so its second decimal is never another than Python's 28 digits give. One
# PL/pgSQL call a row, each intermediate computed once (an inlined expression repeated
# them dozens of times: most of the cost of a row written).
FUNCTIONS_SQL = """
CREATE OR REPLACE FUNCTION finance_variance_rank(window_spend numeric, budget numeric)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    x numeric := window_spend / 3 * 12;
    cents numeric := x * 100;
    whole numeric := TRUNC(cents);
    run_rate numeric;
    rounded numeric := ROUND(budget, 2);
BEGIN
    IF rounded <= 0 THEN
        RETURN 'Infinity';  -- spending with no budget ranks first
    END IF;
    run_rate := CASE WHEN cents - whole IN (0.5, -0.5) AND MOD(whole, 2) = 0
                     THEN TRUNC(x, 2) ELSE ROUND(x, 2) END;
    x := ROUND(100 * (run_rate - rounded), 30) / rounded;
    cents := x * 100;
    whole := TRUNC(cents);
    RETURN CASE WHEN cents - whole IN (0.5, -0.5) AND MOD(whole, 2) = 0
                THEN TRUNC(x, 2) ELSE ROUND(x, 2) END;
END $$;
"""

#: ``run_rate > 0`` without the column: a run rate rounds above zero exactly when
#: monthly x 12 exceeds half a cent (half a cent itself rounds to the even 0.00).
SPENDING = "window_spend / 3 * 12 > 0.005"

# The budget lines' contribution: approved only, at the rate of 1 January (none: 0).
_BUDGET_LINE = (
    "CASE WHEN {b}.status = 'approved' THEN COALESCE({b}.amount * "
    "finance_rate_on({b}.currency, make_date({b}.fiscal_year, 1, 1)), 0) ELSE 0 END"
)

COLUMNS_SQL = (
    FUNCTIONS_SQL
    + f"""
ALTER TABLE finance_variancemonth ADD COLUMN flag_rank numeric
    GENERATED ALWAYS AS (finance_variance_rank(window_spend, budget)) STORED;
CREATE INDEX variance_month_flags ON finance_variancemonth (month, flag_rank DESC)
    WHERE {SPENDING};
-- Rewritten by every write to the rollup or the budgets, like the rollups (0013).
ALTER TABLE finance_variancemonth SET (
    fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02);
"""
)

DROP_COLUMNS_SQL = """
ALTER TABLE finance_variancemonth DROP COLUMN flag_rank;
DROP FUNCTION IF EXISTS finance_variance_rank(numeric, numeric);
"""


def _spend_delta(rows: str) -> str:
    """The rollup rows' signed amounts, from ``new_rows`` (+), ``old_rows`` (-) or both."""
    parts = {
        "new": "SELECT initiative_id, month, one_time + operational AS amount FROM new_rows",
        "old": "SELECT initiative_id, month, -(one_time + operational) AS amount FROM old_rows",
    }
    return " UNION ALL ".join(parts[r] for r in rows.split())


def _budget_delta(rows: str) -> str:
    """The approved lines' signed converted amounts, from ``new_rows``, ``old_rows``."""
    parts = {
        "new": f"SELECT n.initiative_id, n.fiscal_year, {_BUDGET_LINE.format(b='n')} AS amount"
        " FROM new_rows n WHERE n.status = 'approved'",
        "old": f"SELECT o.initiative_id, o.fiscal_year, -({_BUDGET_LINE.format(b='o')}) AS amount"
        " FROM old_rows o WHERE o.status = 'approved'",
    }
    return " UNION ALL ".join(parts[r] for r in rows.split())


def _spend_function(name: str, rows: str) -> str:
    # A new rollup row creates its months' rows even when it adds nothing (a posting with
    # no rate); an update or delete finds them there and skips the deltas that are zero.
    having = "" if rows == "new" else "HAVING SUM(d.amount) <> 0"
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    INSERT INTO finance_variancemonth AS t (initiative_id, month, window_spend, budget)
    SELECT d.initiative_id, (d.month + k * interval '1 month')::date, SUM(d.amount), 0
    FROM ({_spend_delta(rows)}) d CROSS JOIN generate_series(1, 3) k
    GROUP BY 1, 2 {having} ORDER BY 1, 2
    ON CONFLICT (initiative_id, month) DO UPDATE SET window_spend = t.window_spend + EXCLUDED.window_spend;
    RETURN NULL;
END $$;"""


def _budget_function(name: str, rows: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO finance_variancemonth AS t (initiative_id, month, window_spend, budget)
    SELECT d.initiative_id, make_date(d.fiscal_year, m, 1), 0, SUM(d.amount)
    FROM ({_budget_delta(rows)}) d CROSS JOIN generate_series(1, 12) m
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (initiative_id, month) DO UPDATE SET budget = t.budget + EXCLUDED.budget;
    RETURN NULL;
END $$;"""


_OPS = {"INSERT": ("insert", "new"), "DELETE": ("delete", "old"), "UPDATE": ("update", "old new")}

INSTALL_SQL = (
    "".join(
        _spend_function(f"finance_variance_spend_{suffix}", rows)
        + statement_trigger(
            f"variance_spend_{suffix}",
            op,
            "finance_spendinitiativemonth",
            f"finance_variance_spend_{suffix}",
        )
        + _budget_function(f"finance_variance_budget_{suffix}", rows)
        + statement_trigger(
            f"variance_budget_{suffix}", op, "finance_budget", f"finance_variance_budget_{suffix}"
        )
        for op, (suffix, rows) in _OPS.items()
    )
    + f"""
CREATE OR REPLACE FUNCTION finance_variance_budget_resum(currencies varchar[], from_year int)
RETURNS void LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    LOCK TABLE finance_budget IN SHARE MODE;
    INSERT INTO finance_variancemonth AS t (initiative_id, month, window_spend, budget)
    SELECT s.initiative_id, make_date(s.fiscal_year, m, 1), 0, s.amount
    FROM (
        SELECT b.initiative_id, b.fiscal_year, SUM({_BUDGET_LINE.format(b="b")}) AS amount
        FROM finance_budget b
        WHERE (b.initiative_id, b.fiscal_year) IN (
            SELECT c.initiative_id, c.fiscal_year FROM finance_budget c
            WHERE c.status = 'approved' AND c.fiscal_year >= from_year
              AND (currencies IS NULL OR c.currency = ANY(currencies)))
        GROUP BY 1, 2
    ) s CROSS JOIN generate_series(1, 12) m
    ORDER BY 1, 2
    ON CONFLICT (initiative_id, month) DO UPDATE SET budget = EXCLUDED.budget;
END $$;

CREATE OR REPLACE FUNCTION finance_variance_rates() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed_from date;
    changed varchar[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT MIN(valid_from), ARRAY_AGG(DISTINCT currency) INTO changed_from, changed
        FROM new_rates;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT MIN(valid_from), ARRAY_AGG(DISTINCT currency) INTO changed_from, changed
        FROM old_rates;
    ELSE
        SELECT MIN(valid_from), ARRAY_AGG(DISTINCT currency) INTO changed_from, changed
        FROM (SELECT valid_from, currency FROM old_rates
              UNION ALL SELECT valid_from, currency FROM new_rates) r;
    END IF;
    IF changed_from IS NOT NULL THEN
        PERFORM finance_variance_budget_resum(changed, EXTRACT(YEAR FROM changed_from)::int);
    END IF;
    RETURN NULL;
END $$;
{statement_triggers("variance_rates", "finance_exchangerate", "finance_variance_rates", old="old_rates", new="new_rates")}

CREATE OR REPLACE FUNCTION finance_variance_rebuild() RETURNS void
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    LOCK TABLE finance_spendinitiativemonth IN SHARE MODE;
    LOCK TABLE finance_budget IN SHARE MODE;
    DELETE FROM finance_variancemonth;
    INSERT INTO finance_variancemonth (initiative_id, month, window_spend, budget)
    SELECT initiative_id, month, SUM(window_spend), SUM(budget) FROM (
        SELECT r.initiative_id, (r.month + k * interval '1 month')::date AS month,
               r.one_time + r.operational AS window_spend, 0 AS budget
        FROM finance_spendinitiativemonth r CROSS JOIN generate_series(1, 3) k
        UNION ALL
        SELECT b.initiative_id, make_date(b.fiscal_year, m, 1), 0, {_BUDGET_LINE.format(b="b")}
        FROM finance_budget b CROSS JOIN generate_series(1, 12) m
        WHERE b.status = 'approved'
    ) x GROUP BY 1, 2 ORDER BY 1, 2;
END $$;
"""
)

UNINSTALL_SQL = (
    "".join(
        f"""
DROP TRIGGER IF EXISTS variance_spend_{suffix} ON finance_spendinitiativemonth;
DROP TRIGGER IF EXISTS variance_budget_{suffix} ON finance_budget;
DROP TRIGGER IF EXISTS variance_rates_{suffix} ON finance_exchangerate;
DROP FUNCTION IF EXISTS finance_variance_spend_{suffix}();
DROP FUNCTION IF EXISTS finance_variance_budget_{suffix}();"""
        for suffix, _ in _OPS.values()
    )
    + """
DROP FUNCTION IF EXISTS finance_variance_rates();
DROP FUNCTION IF EXISTS finance_variance_budget_resum(varchar[], int);
DROP FUNCTION IF EXISTS finance_variance_rebuild();
"""
)


def install(schema_editor=None) -> None:
    """(Re)create the functions and triggers."""
    with connection.cursor() as cursor:
        cursor.execute(INSTALL_SQL)


def rebuild() -> None:
    """Re-sum the table from the initiative rollup and the budgets."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT finance_variance_rebuild()")
        cursor.execute("ANALYZE finance_variancemonth")


def ensure_reporting_currency(**kwargs) -> None:
    """After migrate, after ``finance.rollups.ensure_reporting_currency``: the budgets'
    conversion depends on the reporting currency (its own lines at rate 1), so a change
    of it re-sums the table too. The currency it was built for is the comment on it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('finance_variancemonth')")
        if cursor.fetchone()[0] is None:
            return  # not migrated yet
        cursor.execute("SELECT obj_description('finance_variancemonth'::regclass, 'pg_class')")
        if cursor.fetchone()[0] == settings.REPORTING_CURRENCY:
            return
    rebuild()
    mark_currency()


def mark_currency() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "COMMENT ON TABLE finance_variancemonth IS "
            + "'"
            + settings.REPORTING_CURRENCY.replace("'", "''")
            + "'"
        )
