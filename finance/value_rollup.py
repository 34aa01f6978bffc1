"""The maintained value rollup (``ValueSegment``, ``ValueUnitStep``, ``ValueUnitMissing``):
its SQL.

Realised value is a sum over KPI periods (``finance.selectors._value_rows``): each period
of a business KPI worth money holds, from its first day until the KPI's next measured
period, the level of its latest measurement above the baseline x the value per unit,
converted at the rate of that measurement's day; the level is carried forward to the
period of ``as_of``. Computing that per page from ``portfolio.KPIPeriodValue`` costs a
sort of every KPI period (the next period of each) and a rate lookup per period: it grows
with the KPIs. So PostgreSQL keeps two things exact:

- ``finance_valuesegment``: one row per KPI period, with its next period and its money in
  the reporting currency (null when the day has no rate), so an initiative's value reads
  its own segments and nothing is sorted or converted when read;
- ``finance_valueunitstep`` and ``finance_valueunitmissing``: per unit and cadence, the
  change of the unit's level at each period (+ the segments starting there, - the ones
  ending there) and the count of segments starting there; per unit and currency, the
  segments without a rate. A unit's value per period is the running sum of its steps, so
  the units pages read a few rows per unit and period, whatever the number of KPIs.

Statement-level ``AFTER`` triggers keep them: on ``portfolio_kpiperiodvalue`` (itself kept
by triggers on every write of measurements and KPIs: ``portfolio.value_rollup``), on
``portfolio_kpi`` (baseline, direction, value per unit, currency: the money of every
period), and on ``finance_exchangerate`` (the segments of that currency from the earliest
day the change touches). Each recomputes the segments of the KPIs concerned and adds the
difference (old segments out, new ones in) to the unit tables with ``INSERT ... ON
CONFLICT DO UPDATE``, in key order. The segments of one KPI are serialised on its row (``FOR
NO KEY UPDATE``, as the period rollup does), and the writers of one unit's steps on an
advisory lock per unit (``LOCK_CLASS``): the old segments come out and the new ones go in
by two statements, which two writers of one unit could otherwise interleave into a
deadlock.

What is stored holds for ``as_of`` = today unless a KPI has a segment measured after
``as_of`` (a measurement dated in the future, or a report as of a past day): the
selectors then take those KPIs' stored contribution out and put in the one computed from
the periods as of that day (an index lookup on ``measured_on`` finds them; usually none).
"""

from __future__ import annotations

from django.db import connection

from portfolio.sql_triggers import changed_rows, drop_statement_triggers, statement_triggers

#: The KPIs worth money (the same rule as ``portfolio.value_rollup.ELIGIBLE``).
ELIGIBLE = "k.kind = 'business' AND k.value_per_unit IS NOT NULL AND k.baseline_value IS NOT NULL"

#: Money of a period: level above the baseline (by the KPI's direction) x value per unit
#: x rate. ``kp`` is the period row, ``k`` the KPI, ``rate`` the day's rate.
AMOUNT = (
    "(CASE WHEN k.direction = 'increase' THEN kp.value - k.baseline_value"
    " ELSE k.baseline_value - kp.value END) * k.value_per_unit * {rate}"
)

#: ``pg_advisory_xact_lock(LOCK_CLASS, unit id)``: taken by every writer of a unit's steps.
LOCK_CLASS = 72_015

SEGMENT_COLUMNS = (
    "kpi_id, initiative_id, business_unit_id, cadence, start, next, measured_on, amount, currency"
)


def _insert_segments(where: str) -> str:
    """``INSERT ... RETURNING *`` of the segments of the KPIs matching ``where`` (on ``kp``
    and ``k``): all their periods, so each period's next one is known. The rate is looked up
    once per (currency, day) (a MATERIALIZED CTE, as in finance.rollups)."""
    return f"""
        WITH periods AS MATERIALIZED (
            SELECT kp.kpi_id, kp.period, kp.measured_on, kp.value
            FROM portfolio_kpiperiodvalue kp JOIN portfolio_kpi k ON k.id = kp.kpi_id
            WHERE ({where}) AND {ELIGIBLE}
        ), days AS MATERIALIZED (
            SELECT d.currency, d.day, finance_rate_on(d.currency, d.day) AS rate
            FROM (SELECT DISTINCT k.value_currency AS currency, kp.measured_on AS day
                  FROM periods kp JOIN portfolio_kpi k ON k.id = kp.kpi_id) d
        )
        INSERT INTO finance_valuesegment ({SEGMENT_COLUMNS})
        SELECT kp.kpi_id, k.initiative_id, k.business_unit_id, k.cadence, kp.period,
               LEAD(kp.period) OVER (PARTITION BY kp.kpi_id ORDER BY kp.period),
               kp.measured_on, {AMOUNT.format(rate="d.rate")}, k.value_currency
        FROM periods kp
        JOIN portfolio_kpi k ON k.id = kp.kpi_id
        JOIN days d ON d.currency = k.value_currency AND d.day = kp.measured_on
        RETURNING *"""


def _apply(rows: str, sign: int) -> str:
    """SQL adding ``sign`` x the segments ``rows`` (a data-modifying statement with
    ``RETURNING *``) to the unit tables, in key order, then dropping emptied rows."""
    return f"""
    WITH x AS ({rows}),
    st AS (
        SELECT business_unit_id, cadence, at, SUM(d) AS d, SUM(n) AS n FROM (
            SELECT business_unit_id, cadence, start AS at, COALESCE(amount, 0) AS d, 1 AS n
            FROM x
            UNION ALL
            SELECT business_unit_id, cadence, next, -COALESCE(amount, 0), 0
            FROM x WHERE next IS NOT NULL
        ) y GROUP BY 1, 2, 3
    ), steps AS (
        INSERT INTO finance_valueunitstep AS t (business_unit_id, cadence, at, amount, starts)
        SELECT business_unit_id, cadence, at, {sign} * d, {sign} * n FROM st ORDER BY 1, 2, 3
        ON CONFLICT (business_unit_id, cadence, at) DO UPDATE SET
            amount = t.amount + EXCLUDED.amount, starts = t.starts + EXCLUDED.starts
    )
    INSERT INTO finance_valueunitmissing AS t (business_unit_id, currency, segments)
    SELECT business_unit_id, currency, {sign} * COUNT(*) FROM x WHERE amount IS NULL
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (business_unit_id, currency) DO UPDATE SET segments = t.segments + EXCLUDED.segments;
    DELETE FROM finance_valueunitstep WHERE amount = 0 AND starts = 0;
    DELETE FROM finance_valueunitmissing WHERE segments = 0;"""


#: The period columns a segment is made of (an update changing none of them is skipped).
PERIOD_WATCHED = (
    "r.id, r.kpi_id, r.initiative_id, r.business_unit_id, r.period, r.measured_on, r.value"
)
#: The KPI columns its segments' money depends on.
KPI_WATCHED = (
    "r.id, r.baseline_value, r.direction, r.value_per_unit, r.value_currency, r.kind,"
    " r.cadence, r.initiative_id, r.business_unit_id"
)

INSTALL_SQL = f"""
CREATE OR REPLACE FUNCTION finance_value_refresh(kpis bigint[]) RETURNS void
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    IF kpis IS NULL OR cardinality(kpis) = 0 THEN RETURN; END IF;
    PERFORM 1 FROM portfolio_kpi WHERE id = ANY(kpis) ORDER BY id FOR NO KEY UPDATE;
    -- The old segments come out and the new ones go in by two statements: two writers of
    -- one unit would each hold step rows the other's second statement needs (a deadlock).
    -- So writers of a unit's steps take turns, in unit order: a transaction-level
    -- advisory lock per unit (other units' writers do not wait).
    PERFORM pg_advisory_xact_lock({LOCK_CLASS}, u.id::int) FROM (
        SELECT business_unit_id AS id FROM finance_valuesegment WHERE kpi_id = ANY(kpis)
        UNION SELECT business_unit_id FROM portfolio_kpi WHERE id = ANY(kpis)
        ORDER BY 1) u;
    {_apply("DELETE FROM finance_valuesegment WHERE kpi_id = ANY(kpis) RETURNING *", -1)}
    {_apply(_insert_segments("kp.kpi_id = ANY(kpis)"), 1)}
END $$;

CREATE OR REPLACE FUNCTION finance_value_rebuild() RETURNS void
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    LOCK TABLE portfolio_kpiperiodvalue IN SHARE MODE;
    DELETE FROM finance_valuesegment;
    DELETE FROM finance_valueunitstep;
    DELETE FROM finance_valueunitmissing;
    {_apply(_insert_segments("TRUE"), 1)}
END $$;

CREATE OR REPLACE FUNCTION finance_value_periods_changed() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM finance_value_refresh(ARRAY(SELECT DISTINCT kpi_id FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM finance_value_refresh(ARRAY(SELECT DISTINCT kpi_id FROM old_rows));
    ELSE
        PERFORM finance_value_refresh(ARRAY(
            SELECT kpi_id FROM {changed_rows(PERIOD_WATCHED, "old")} o
            UNION SELECT kpi_id FROM {changed_rows(PERIOD_WATCHED, "new")} n));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION finance_value_kpi_changed() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN
    PERFORM finance_value_refresh(ARRAY(
        SELECT id FROM {changed_rows(KPI_WATCHED, "new")} n
        ORDER BY 1));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION finance_value_rates_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT MIN(valid_from) AS day, ARRAY_AGG(DISTINCT currency) AS currencies
            INTO changed FROM new_rates;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT MIN(valid_from) AS day, ARRAY_AGG(DISTINCT currency) AS currencies
            INTO changed FROM old_rates;
    ELSE
        SELECT MIN(valid_from) AS day, ARRAY_AGG(DISTINCT currency) AS currencies
            INTO changed FROM (SELECT valid_from, currency FROM old_rates
                               UNION ALL SELECT valid_from, currency FROM new_rates) r;
    END IF;
    PERFORM finance_value_refresh(ARRAY(
        SELECT DISTINCT kpi_id FROM finance_valuesegment
        WHERE currency = ANY(changed.currencies) AND measured_on >= changed.day
        ORDER BY 1));
    RETURN NULL;
END $$;

{statement_triggers("value_segments", "portfolio_kpiperiodvalue", "finance_value_periods_changed")}
DROP TRIGGER IF EXISTS value_segments_kpi_update ON portfolio_kpi;
CREATE TRIGGER value_segments_kpi_update AFTER UPDATE ON portfolio_kpi
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION finance_value_kpi_changed();
{statement_triggers("value_segments_rates", "finance_exchangerate", "finance_value_rates_changed", old="old_rates", new="new_rates")}
"""

UNINSTALL_SQL = f"""{drop_statement_triggers("value_segments", "portfolio_kpiperiodvalue")}
{drop_statement_triggers("value_segments_rates", "finance_exchangerate")}
DROP TRIGGER IF EXISTS value_segments_kpi_update ON portfolio_kpi;
DROP FUNCTION IF EXISTS finance_value_rates_changed();
DROP FUNCTION IF EXISTS finance_value_kpi_changed();
DROP FUNCTION IF EXISTS finance_value_periods_changed();
DROP FUNCTION IF EXISTS finance_value_rebuild();
DROP FUNCTION IF EXISTS finance_value_refresh(bigint[]);
"""


def install() -> None:
    """(Re)create the functions and triggers."""
    with connection.cursor() as cursor:
        cursor.execute(INSTALL_SQL)


def rebuild() -> None:
    """Recompute the segments and the unit tables from the KPI periods."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT finance_value_rebuild()")
