"""The maintained flow rollup (``FlowCohort``): its SQL.

One row per business unit and start quarter holding the counts the flow page's cohorts
and funnel add up (``portfolio.analytics``): the initiatives that started that quarter
(stage known), how many reached initial production within 6, 12 and 18 months of their
start, how many are killed or still in pilot, and how many ever reached each active
stage after the first. Every count is additive, so the page sums a few hundred rows
(grouping sets for the per-quarter totals) instead of reading every initiative and its
stage history. Whether a cohort is old enough to tell ("observable") depends on today
and stays in Python.

``DEFINITION`` is the one definition: the rows of the (unit, quarter) groups matching a
condition, computed from the raw initiatives and their stage history (an initiative's
start is ``started_on``, else the day it entered its stage; reaching initial production is
its first non-import decision into a production stage or, with none, the day it entered
its current production stage; its top stage is the highest active stage of its current
stage and its non-import decisions). The triggers, the rebuild and the tests all use it.

PostgreSQL keeps it exact, not the app: statement-level ``AFTER`` triggers on
``portfolio_initiative`` (a row inserted or deleted, or a change of its stage, stage
date, start or unit) and ``portfolio_stagetransition`` (any row inserted, deleted, or
changed in its initiative, stages, decision or date) find the (unit, quarter) groups the
statement touched (old and new) and recompute exactly those from the raw rows. Every
path (the stage decision service, forms, the API, the admin, the inventory import,
``queryset.update``, a move between units, deletes) keeps it without knowing it exists.

Concurrency: the recomputation of a group reads every initiative of the group, so two
transactions touching one group take turns on a transaction-level advisory lock per group
(``LOCK_CLASS``, taken in a fixed order); the second recomputes after the first commits
(in READ COMMITTED each statement of the trigger function sees the rows committed
before it started) and sees its rows. A stage-history change first locks its
initiatives' rows (``FOR NO KEY UPDATE``, in id order), so a concurrent move of the
initiative to another unit cannot change the group under it.
"""

from __future__ import annotations

from django.db import connection

from portfolio.choices import ACTIVE_STAGES
from portfolio.sql_triggers import drop_statement_triggers, statement_triggers

#: ``pg_advisory_xact_lock(LOCK_CLASS, hashtext(unit:quarter))``: the writers of a group.
LOCK_CLASS = 72_031

PRODUCTION = [s.value for s in ACTIVE_STAGES[1:]]
#: The funnel's columns: initiatives that ever reached the k-th active stage (k >= 1; the
#: first is every initiative: ``started``).
EVER_COLUMNS = [f"ever_{s.value}" for s in ACTIVE_STAGES[1:]]
COUNT_COLUMNS = [
    "started",
    "reached_6",
    "reached_12",
    "reached_18",
    "killed",
    "in_pilot",
    *EVER_COLUMNS,
]
COLUMNS = ["business_unit_id", "quarter", *COUNT_COLUMNS]


def _rank(column: str) -> str:
    whens = " ".join(f"WHEN '{s.value}' THEN {i}" for i, s in enumerate(ACTIVE_STAGES))
    return f"(CASE {column} {whens} END)"


def _in(values: list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


#: An initiative's start day (``i``: a row of portfolio_initiative or a transition table).
START = "COALESCE({i}.started_on, ({i}.stage_entered_at AT TIME ZONE 'UTC')::date)"


def quarter(i: str) -> str:
    """The start quarter (its first day) of the initiative row ``i``."""
    return f"date_trunc('quarter', {START.format(i=i)}::timestamp)::date"


def definition(where: str) -> str:
    """The rollup rows (``COLUMNS``) of the groups whose initiatives (``i``, with ``q`` their
    start quarter) match ``where``: the one definition."""
    ever = ", ".join(f"COUNT(*) FILTER (WHERE top >= {k})" for k in range(1, len(ACTIVE_STAGES)))
    return f"""
    SELECT f.business_unit_id, f.q,
           COUNT(*),
           COUNT(*) FILTER (WHERE f.reached < f.started + interval '6 months'),
           COUNT(*) FILTER (WHERE f.reached < f.started + interval '12 months'),
           COUNT(*) FILTER (WHERE f.reached < f.started + interval '18 months'),
           COUNT(*) FILTER (WHERE f.stage = 'killed'),
           COUNT(*) FILTER (WHERE f.stage = 'proof_of_concept'),
           {ever}
    FROM (
        SELECT i.business_unit_id, i.stage, s.started, s.q,
               COALESCE(h.first_production,
                        CASE WHEN i.stage IN {_in(PRODUCTION)}
                             THEN (i.stage_entered_at AT TIME ZONE 'UTC')::date END) AS reached,
               GREATEST({_rank("i.stage")}, h.top, 0) AS top
        FROM portfolio_initiative i
        CROSS JOIN LATERAL (
            SELECT {START.format(i="i")} AS started, {quarter("i")} AS q
        ) s
        LEFT JOIN LATERAL (
            SELECT MIN((t.decided_at AT TIME ZONE 'UTC')::date)
                       FILTER (WHERE t.to_stage IN {_in(PRODUCTION)}) AS first_production,
                   MAX(GREATEST({_rank("t.from_stage")}, {_rank("t.to_stage")})) AS top
            FROM portfolio_stagetransition t
            WHERE t.initiative_id = i.id AND t.decision <> 'import'
        ) h ON TRUE
        WHERE i.stage <> 'unknown' AND ({where})
    ) f
    GROUP BY f.business_unit_id, f.q"""


def _refresh(touched: str, *, lock_initiatives: str | None = None) -> str:
    """SQL recomputing the groups (business_unit_id, quarter) that ``touched`` selects;
    ``lock_initiatives``: a query of initiative ids whose rows are locked first (so that
    ``touched``, read after, cannot change before the transaction ends)."""
    groups = f"SELECT DISTINCT business_unit_id, quarter FROM ({touched}) g"
    lock = (
        f"""PERFORM 1 FROM portfolio_initiative WHERE id IN ({lock_initiatives})
        ORDER BY id FOR NO KEY UPDATE;"""
        if lock_initiatives
        else ""
    )
    return f"""
    {lock}
    IF NOT EXISTS ({touched}) THEN RETURN NULL; END IF;
    PERFORM pg_advisory_xact_lock({LOCK_CLASS}, g.k) FROM (
        SELECT DISTINCT hashtext(business_unit_id::text || ':'
                                 || (quarter - date '2000-01-01')::text) AS k
        FROM ({touched}) t ORDER BY 1) g;
    DELETE FROM portfolio_flowcohort r USING ({groups}) g
        WHERE r.business_unit_id = g.business_unit_id AND r.quarter = g.quarter;
    -- (the units as an array: the initiatives are found by their unit's index)
    INSERT INTO portfolio_flowcohort ({", ".join(COLUMNS)})
    {
        definition(
            f"i.business_unit_id = ANY(ARRAY(SELECT business_unit_id FROM ({touched}) g))"
            f" AND (i.business_unit_id, {quarter('i')}) IN ({groups})"
        )
    };"""


#: The initiative columns the rollup reads.
WATCHED = "{r}.stage, {r}.stage_entered_at, {r}.started_on, {r}.business_unit_id"
#: The stage history columns it reads.
WATCHED_HISTORY = "{r}.initiative_id, {r}.from_stage, {r}.to_stage, {r}.decision, {r}.decided_at"


def _changed(watched: str) -> str:
    return (
        "FROM old_rows o JOIN new_rows n ON n.id = o.id"
        f" WHERE ({watched.format(r='o')}) IS DISTINCT FROM ({watched.format(r='n')})"
    )


def _groups_of(rows: str) -> str:
    return f"SELECT r.business_unit_id, {quarter('r')} AS quarter FROM {rows} r"


_INITIATIVE_TOUCHED = {
    "INSERT": _groups_of("new_rows"),
    "DELETE": _groups_of("old_rows"),
    "UPDATE": (
        f"SELECT o.business_unit_id, {quarter('o')} AS quarter {_changed(WATCHED)}"
        f" UNION SELECT n.business_unit_id, {quarter('n')} {_changed(WATCHED)}"
    ),
}

_HISTORY_IDS = {
    "INSERT": "SELECT initiative_id FROM new_rows",
    "DELETE": "SELECT initiative_id FROM old_rows",
    "UPDATE": (
        f"SELECT o.initiative_id {_changed(WATCHED_HISTORY)}"
        f" UNION SELECT n.initiative_id {_changed(WATCHED_HISTORY)}"
    ),
}


def _history_touched(ids: str) -> str:
    return (
        f"SELECT i.business_unit_id, {quarter('i')} AS quarter"
        f" FROM portfolio_initiative i WHERE i.id IN ({ids})"
    )


def _by_op(body) -> str:
    return "\n".join(
        f"    {'IF' if n == 0 else 'ELSIF'} TG_OP = '{op}' THEN {body(op)}"
        for n, op in enumerate(("INSERT", "UPDATE", "DELETE"))
    )


INSTALL_SQL = f"""
CREATE OR REPLACE FUNCTION portfolio_flow_initiatives_changed() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    -- The activity writer (portfolio.activity) updates last_activity_on only, one
    -- statement per initiative when stage dates move in bulk: nothing here changes.
    IF TG_OP = 'UPDATE'
       AND current_setting('portfolio.activity_writer', true) IS NOT DISTINCT FROM 'on' THEN
        RETURN NULL;
    END IF;
{_by_op(lambda op: _refresh(_INITIATIVE_TOUCHED[op]))}
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portfolio_flow_history_changed() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
{_by_op(lambda op: _refresh(_history_touched(_HISTORY_IDS[op]), lock_initiatives=_HISTORY_IDS[op]))}
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portfolio_flow_rebuild() RETURNS void
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    LOCK TABLE portfolio_initiative, portfolio_stagetransition IN SHARE MODE;
    DELETE FROM portfolio_flowcohort;
    INSERT INTO portfolio_flowcohort ({", ".join(COLUMNS)}) {definition("TRUE")};
END $$;
{statement_triggers("flow_rollup", "portfolio_initiative", "portfolio_flow_initiatives_changed")}
{
    statement_triggers(
        "flow_rollup_history", "portfolio_stagetransition", "portfolio_flow_history_changed"
    )
}
"""

UNINSTALL_SQL = f"""{drop_statement_triggers("flow_rollup", "portfolio_initiative")}
{drop_statement_triggers("flow_rollup_history", "portfolio_stagetransition")}
DROP FUNCTION IF EXISTS portfolio_flow_rebuild();
DROP FUNCTION IF EXISTS portfolio_flow_history_changed();
DROP FUNCTION IF EXISTS portfolio_flow_initiatives_changed();
"""


def install() -> None:
    """(Re)create the functions and triggers."""
    with connection.cursor() as cursor:
        cursor.execute(INSTALL_SQL)


def rebuild() -> None:
    """Recompute the whole rollup from the initiatives and their stage history."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT portfolio_flow_rebuild()")
