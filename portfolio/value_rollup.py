"""The maintained value rollup (``KPIPeriodValue``): its SQL.

One row per KPI and cadence period holding the period's latest measurement (day and
value), for the KPIs that are worth money (business KPIs with a baseline and a value per
unit: ``ELIGIBLE``); operational and technical KPIs, often measured daily, add no rows.
PostgreSQL keeps it exact, not the app: statement-level ``AFTER`` triggers on
``portfolio_measurement`` read the statement's transition tables, find the (KPI, period)
pairs the statement touched, and recompute exactly those from the measurements (an index
lookup on ``one_measurement_per_day`` each). Every path that writes measurements (the
``measurement_record`` service behind the form and the API, ``bulk_create`` or raw SQL
imports, deletes, a cascade from a deleted KPI, the move of an initiative) keeps it
exact without knowing it exists.

The same triggers keep ``KPI.last_measured_on`` (the day of the KPI's latest
measurement, for every KPI: the stale-KPI lists filter on it instead of aggregating the
measurements); the audit trail leaves that derived column out.

A KPI update that changes its cadence (the periods), its initiative or its unit (the
scope columns), its kind, or whether it has a baseline and a value per unit (whether it
is kept) recomputes that KPI's rows; a deleted KPI loses its rows. The baseline,
direction, value per unit and currency themselves are read from the KPI when the value
is computed (``finance.selectors._value_rows``), so changing them needs no rebuild.

"Latest" is not additive like a sum, so two transactions recording measurements of the
same KPI are serialised on that KPI's row (``FOR NO KEY UPDATE``, which does not conflict
with the key-share lock the measurement's foreign key takes): the second recomputes after
the first commits and sees its rows.
"""

from __future__ import annotations

from django.db import connection

from portfolio.sql_triggers import OPS, changed_rows, drop_statement_triggers, statement_trigger

#: The first day of the cadence period holding ``day`` (weeks start on Monday).
PERIOD_SQL = """
CREATE OR REPLACE FUNCTION portfolio_kpi_period(cadence varchar, day date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_trunc(CASE cadence WHEN 'weekly' THEN 'week' WHEN 'quarterly' THEN 'quarter'
                      ELSE 'month' END, day)::date
$$;

CREATE OR REPLACE FUNCTION portfolio_kpi_period_step(cadence varchar) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE cadence WHEN 'weekly' THEN interval '1 week'
                        WHEN 'quarterly' THEN interval '3 months' ELSE interval '1 month' END
$$;
"""


#: The KPIs whose measurements are worth money: only their periods are kept.
ELIGIBLE = "k.kind = 'business' AND k.value_per_unit IS NOT NULL AND k.baseline_value IS NOT NULL"


def _refresh(touched: str) -> str:
    """SQL recomputing the rollup rows of the (kpi_id, measured_on) rows of ``touched``."""
    pairs = f"""SELECT DISTINCT s.kpi_id, portfolio_kpi_period(k.cadence, s.measured_on) AS period
        FROM ({touched}) s JOIN portfolio_kpi k ON k.id = s.kpi_id"""
    return f"""
    PERFORM 1 FROM portfolio_kpi WHERE id IN (SELECT kpi_id FROM ({touched}) s)
        ORDER BY id FOR NO KEY UPDATE;
    PERFORM set_config('portfolio.last_measured_writer', 'on', true);
    UPDATE portfolio_kpi k SET last_measured_on = x.day
    FROM (SELECT t.kpi_id, (SELECT MAX(m.measured_on) FROM portfolio_measurement m
                            WHERE m.kpi_id = t.kpi_id) AS day
          FROM (SELECT DISTINCT kpi_id FROM ({touched}) s) t) x
    WHERE k.id = x.kpi_id AND k.last_measured_on IS DISTINCT FROM x.day;
    PERFORM set_config('portfolio.last_measured_writer', 'off', true);
    DELETE FROM portfolio_kpiperiodvalue r USING ({pairs}) t
        WHERE r.kpi_id = t.kpi_id AND r.period = t.period;
    INSERT INTO portfolio_kpiperiodvalue
        (kpi_id, initiative_id, business_unit_id, period, measured_on, value)
    SELECT t.kpi_id, k.initiative_id, k.business_unit_id, t.period, l.measured_on, l.value
    FROM ({pairs}) t
    JOIN portfolio_kpi k ON k.id = t.kpi_id AND {ELIGIBLE}
    JOIN LATERAL (
        SELECT m.measured_on, m.value FROM portfolio_measurement m
        WHERE m.kpi_id = t.kpi_id AND m.measured_on >= t.period
          AND m.measured_on < t.period + portfolio_kpi_period_step(k.cadence)
        ORDER BY m.measured_on DESC LIMIT 1
    ) l ON TRUE;"""


def _rebuild_kpis(where: str) -> str:
    """SQL recomputing every rollup row of the KPIs matching ``where`` (on ``k``), set-based."""
    return f"""
    DELETE FROM portfolio_kpiperiodvalue r USING portfolio_kpi k
        WHERE r.kpi_id = k.id AND ({where});
    INSERT INTO portfolio_kpiperiodvalue
        (kpi_id, initiative_id, business_unit_id, period, measured_on, value)
    SELECT DISTINCT ON (m.kpi_id, portfolio_kpi_period(k.cadence, m.measured_on))
           m.kpi_id, k.initiative_id, k.business_unit_id,
           portfolio_kpi_period(k.cadence, m.measured_on), m.measured_on, m.value
    FROM portfolio_measurement m JOIN portfolio_kpi k ON k.id = m.kpi_id
    WHERE ({where}) AND {ELIGIBLE}
    ORDER BY m.kpi_id, portfolio_kpi_period(k.cadence, m.measured_on), m.measured_on DESC;"""


#: The measurement columns the rollup reads (an update changing none of them is skipped).
MEASUREMENT_WATCHED = "r.id, r.kpi_id, r.measured_on, r.value, r.business_unit_id"
#: The KPI columns that decide its periods (cadence, owner, whether it is worth money).
KPI_WATCHED = (
    "r.id, r.cadence, r.initiative_id, r.business_unit_id, r.kind,"
    " r.value_per_unit IS NULL AS no_value, r.baseline_value IS NULL AS no_baseline"
)

INSTALL_SQL = f"""
{PERIOD_SQL}

-- Only the measurement triggers write ``last_measured_on``: a save from the application
-- (a stale in-memory copy, a form, the admin, an import) keeps the stored day, and a new
-- KPI has none.
CREATE OR REPLACE FUNCTION portfolio_kpi_last_measured_guard() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.last_measured_on := NULL;
    ELSIF current_setting('portfolio.last_measured_writer', true) IS DISTINCT FROM 'on' THEN
        NEW.last_measured_on := OLD.last_measured_on;
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS kpi_last_measured_guard ON portfolio_kpi;
CREATE TRIGGER kpi_last_measured_guard BEFORE INSERT OR UPDATE ON portfolio_kpi
    FOR EACH ROW EXECUTE FUNCTION portfolio_kpi_last_measured_guard();

CREATE OR REPLACE FUNCTION portfolio_value_rollup_insert() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    {_refresh("SELECT kpi_id, measured_on FROM new_rows")}
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portfolio_value_rollup_delete() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    {_refresh("SELECT kpi_id, measured_on FROM old_rows")}
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portfolio_value_rollup_update() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    {
    _refresh(
        f"SELECT kpi_id, measured_on FROM {changed_rows(MEASUREMENT_WATCHED, 'old')} o"
        f" UNION SELECT kpi_id, measured_on FROM {changed_rows(MEASUREMENT_WATCHED, 'new')} n"
    )
}
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portfolio_value_rollup_kpi_update() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    {_rebuild_kpis(f"k.id IN (SELECT id FROM {changed_rows(KPI_WATCHED, 'new')} n)")}
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portfolio_value_rollup_kpi_delete() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN
    DELETE FROM portfolio_kpiperiodvalue WHERE kpi_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portfolio_value_rollup_rebuild() RETURNS void
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    LOCK TABLE portfolio_measurement IN SHARE MODE;
    {_rebuild_kpis("TRUE")}
END $$;

{
    "".join(
        statement_trigger(
            f"value_rollup_{op}", op, "portfolio_measurement", f"portfolio_value_rollup_{op}"
        )
        for op in OPS
    )
}
{
    statement_trigger(
        "value_rollup_kpi_update", "update", "portfolio_kpi", "portfolio_value_rollup_kpi_update"
    )
}
{
    statement_trigger(
        "value_rollup_kpi_delete", "delete", "portfolio_kpi", "portfolio_value_rollup_kpi_delete"
    )
}
"""

UNINSTALL_SQL = f"""
DROP TRIGGER IF EXISTS kpi_last_measured_guard ON portfolio_kpi;
DROP FUNCTION IF EXISTS portfolio_kpi_last_measured_guard();
{drop_statement_triggers("value_rollup", "portfolio_measurement")}
DROP TRIGGER IF EXISTS value_rollup_kpi_update ON portfolio_kpi;
DROP TRIGGER IF EXISTS value_rollup_kpi_delete ON portfolio_kpi;
DROP FUNCTION IF EXISTS portfolio_value_rollup_rebuild();
DROP FUNCTION IF EXISTS portfolio_value_rollup_kpi_delete();
DROP FUNCTION IF EXISTS portfolio_value_rollup_kpi_update();
DROP FUNCTION IF EXISTS portfolio_value_rollup_update();
DROP FUNCTION IF EXISTS portfolio_value_rollup_delete();
DROP FUNCTION IF EXISTS portfolio_value_rollup_insert();
DROP FUNCTION IF EXISTS portfolio_kpi_period_step(varchar);
DROP FUNCTION IF EXISTS portfolio_kpi_period(varchar, date);
"""


def install() -> None:
    """(Re)create the functions and triggers."""
    with connection.cursor() as cursor:
        cursor.execute(INSTALL_SQL)


def rebuild() -> None:
    """Recompute the whole rollup from the measurements."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT portfolio_value_rollup_rebuild()")
