"""The one definition of an initiative's activity, kept by the database.

``Initiative.last_activity_on`` is the latest *business date* of anything that happened to
the initiative: the day it entered its stage, a spend posting's ``posted_on``, a KPI
measurement's ``measured_on``, a gate decision, a review asked for by the team (not a
stall review: asking for a decision is not activity), an adoption snapshot, an
attestation, a risk assessment, a fairness audit, an incident, a model version deployed,
retired or validated. Dates in the future count as today.

Each app registers the tables that carry activity in ``portfolio_activity_source`` (from
its migrations, with :func:`register_source_sql`), and gets statement-level triggers on
them: an INSERT raises the initiatives' dates set-based (one UPDATE per statement, whatever
the number of rows, so the spend import's COPY + INSERT pays one statement); an UPDATE or
DELETE recomputes the touched initiatives exactly from every registered source. No code
path can skip it: ORM, ``bulk_create``, ``update()``, raw SQL, imports, the admin.
"""

from __future__ import annotations

CREATE_SQL = r"""
CREATE TABLE IF NOT EXISTS portfolio_activity_source (
    id serial PRIMARY KEY,
    table_name text NOT NULL,
    join_sql text NOT NULL DEFAULT '',
    initiative_sql text NOT NULL,
    date_sql text NOT NULL,
    condition_sql text NOT NULL DEFAULT 'true',
    UNIQUE (table_name, date_sql, condition_sql)
);

CREATE OR REPLACE FUNCTION portfolio_activity_recompute(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    src record;
    branches text := 'SELECT NULL::bigint AS iid, NULL::date AS d WHERE false';
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    FOR src IN SELECT * FROM portfolio_activity_source ORDER BY id LOOP
        branches := branches || format(
            ' UNION ALL SELECT %s, MAX((%s)::date) FROM %I r %s WHERE (%s) AND %s = ANY($1) GROUP BY 1',
            src.initiative_sql, src.date_sql, src.table_name, src.join_sql,
            src.condition_sql, src.initiative_sql);
    END LOOP;
    PERFORM set_config('portfolio.activity_writer', 'on', true);
    EXECUTE format(
        'UPDATE portfolio_initiative i SET last_activity_on = x.d
         FROM (SELECT i2.id, LEAST(GREATEST((i2.stage_entered_at AT TIME ZONE ''UTC'')::date,
                                            a.d), current_date) AS d
               FROM portfolio_initiative i2
               LEFT JOIN (SELECT iid, MAX(d) AS d FROM (%s) u GROUP BY iid) a ON a.iid = i2.id
               WHERE i2.id = ANY($1)) x
         WHERE i.id = x.id AND i.last_activity_on IS DISTINCT FROM x.d', branches)
    USING ids;
    PERFORM set_config('portfolio.activity_writer', 'off', true);
END
$fn$;

CREATE OR REPLACE FUNCTION portfolio_activity_after_statement() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    src record;
    ids bigint[];
    more bigint[];
BEGIN
    FOR src IN SELECT * FROM portfolio_activity_source WHERE table_name = TG_TABLE_NAME LOOP
        IF TG_OP = 'INSERT' THEN
            PERFORM set_config('portfolio.activity_writer', 'on', true);
            EXECUTE format(
                'UPDATE portfolio_initiative i SET last_activity_on = x.d
                 FROM (SELECT %s AS iid, LEAST(MAX((%s)::date), current_date) AS d
                       FROM activity_new_rows r %s WHERE (%s) AND (%s) IS NOT NULL
                       GROUP BY 1) x
                 WHERE i.id = x.iid AND x.d IS NOT NULL
                   AND (i.last_activity_on IS NULL OR x.d > i.last_activity_on)',
                src.initiative_sql, src.date_sql, src.join_sql, src.condition_sql,
                src.date_sql);
            PERFORM set_config('portfolio.activity_writer', 'off', true);
        ELSE
            EXECUTE format('SELECT array_agg(DISTINCT %s) FROM activity_old_rows r %s',
                           src.initiative_sql, src.join_sql) INTO ids;
            IF TG_OP = 'UPDATE' THEN
                EXECUTE format('SELECT array_agg(DISTINCT %s) FROM activity_new_rows r %s',
                               src.initiative_sql, src.join_sql) INTO more;
                ids := COALESCE(ids, '{}') || COALESCE(more, '{}');
            END IF;
            PERFORM portfolio_activity_recompute(ids);
        END IF;
    END LOOP;
    RETURN NULL;
END
$fn$;

-- The stage's own start counts as activity (a new stage starts its clock). Only the
-- functions above write the date: a save from the application (a stale in-memory copy,
-- a form, the admin, an import) keeps the stored value.
CREATE OR REPLACE FUNCTION portfolio_initiative_stage_activity() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.last_activity_on := LEAST((NEW.stage_entered_at AT TIME ZONE 'UTC')::date,
                                      current_date);
    ELSIF current_setting('portfolio.activity_writer', true) IS DISTINCT FROM 'on' THEN
        NEW.last_activity_on := OLD.last_activity_on;
    END IF;
    RETURN NEW;
END
$fn$;

DROP TRIGGER IF EXISTS portfolio_initiative_stage_activity ON portfolio_initiative;
CREATE TRIGGER portfolio_initiative_stage_activity
    BEFORE INSERT OR UPDATE ON portfolio_initiative
    FOR EACH ROW EXECUTE FUNCTION portfolio_initiative_stage_activity();

-- A new (or corrected) stage date: recompute exactly from every source.
CREATE OR REPLACE FUNCTION portfolio_initiative_stage_moved() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM portfolio_activity_recompute(ARRAY[NEW.id]::bigint[]);
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS portfolio_initiative_stage_moved ON portfolio_initiative;
CREATE TRIGGER portfolio_initiative_stage_moved
    AFTER UPDATE OF stage_entered_at ON portfolio_initiative
    FOR EACH ROW WHEN (OLD.stage_entered_at IS DISTINCT FROM NEW.stage_entered_at)
    EXECUTE FUNCTION portfolio_initiative_stage_moved();
"""

DROP_SQL = r"""
DROP TRIGGER IF EXISTS portfolio_initiative_stage_moved ON portfolio_initiative;
DROP FUNCTION IF EXISTS portfolio_initiative_stage_moved();
DROP TRIGGER IF EXISTS portfolio_initiative_stage_activity ON portfolio_initiative;
DROP FUNCTION IF EXISTS portfolio_initiative_stage_activity();
DROP FUNCTION IF EXISTS portfolio_activity_after_statement() CASCADE;
DROP FUNCTION IF EXISTS portfolio_activity_recompute(bigint[]);
DROP TABLE IF EXISTS portfolio_activity_source;
"""

RECOMPUTE_ALL_SQL = (
    "SELECT portfolio_activity_recompute(ARRAY(SELECT id FROM portfolio_initiative)::bigint[])"
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def register_source_sql(
    table: str,
    *,
    initiative: str = "r.initiative_id",
    date: str,
    condition: str = "true",
    join: str = "",
) -> str:
    """SQL that registers ``table`` (alias ``r``; ``join`` may add joined tables) as a
    source of activity on the initiative ``initiative`` at the business date ``date``,
    and installs its three statement-level triggers (once per table)."""
    return f"""
INSERT INTO portfolio_activity_source (table_name, join_sql, initiative_sql, date_sql,
                                       condition_sql)
VALUES ({_quote(table)}, {_quote(join)}, {_quote(initiative)}, {_quote(date)},
        {_quote(condition)})
ON CONFLICT DO NOTHING;
DROP TRIGGER IF EXISTS activity_insert ON {table};
DROP TRIGGER IF EXISTS activity_update ON {table};
DROP TRIGGER IF EXISTS activity_delete ON {table};
CREATE TRIGGER activity_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS activity_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION portfolio_activity_after_statement();
CREATE TRIGGER activity_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS activity_old_rows NEW TABLE AS activity_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION portfolio_activity_after_statement();
CREATE TRIGGER activity_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS activity_old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION portfolio_activity_after_statement();
"""


def unregister_source_sql(table: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS activity_insert ON {table};
DROP TRIGGER IF EXISTS activity_update ON {table};
DROP TRIGGER IF EXISTS activity_delete ON {table};
DELETE FROM portfolio_activity_source WHERE table_name = {_quote(table)};
"""
