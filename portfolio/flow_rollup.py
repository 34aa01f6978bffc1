"""The maintained flow rollups (``FlowCohort``, ``FlowStay``): their SQL.

One row per business unit and start quarter holding the counts the flow page's cohorts
and funnel add up (``portfolio.analytics``): the initiatives that started that quarter
(stage known), how many reached initial production within 6, 12 and 18 months of their
start, how many are killed or still in pilot, and how many ever reached each active
stage after the first. Every count is additive, so the page sums a few hundred rows
(grouping sets for the per-quarter totals) instead of reading every initiative and its
stage history. Whether a cohort is old enough to tell ("observable") depends on today
and stays in Python.

``definition`` is the one definition: the rows of the (unit, quarter) groups matching a
condition, computed from the raw initiatives and their stage history (an initiative's
start is ``started_on``, else the day it entered its stage; reaching initial production is
its first non-import decision into a production stage or, with none, the day it entered
its current production stage; its top stage is the highest active stage of its current
stage and its non-import decisions). The triggers, the rebuild and the tests all use it.

``FlowStay`` holds every initiative's stays in an active stage (``stays_definition``:
the stage history's stays, or the current stage since it was entered), so the time in
stage reads a percentile as the one or two stays at its rank in an index (days for the
completed stays, entry time for the open ones, whose age is now minus entry) instead of
sorting every stay on each request.

PostgreSQL keeps both exact, not the app: statement-level ``AFTER`` triggers on
``portfolio_initiative`` (a row inserted or deleted, or a change of its stage, stage
date, start, unit or creation time) and ``portfolio_stagetransition`` (any row inserted, deleted, or
changed in its initiative, stages, decision or date) find the (unit, quarter) groups the
statement touched (old and new) and recompute exactly those from the raw rows, and the
stays of the initiatives it touched. Every path (the stage decision service, forms, the
API, the admin, the inventory import, ``queryset.update``, a move between units,
deletes) keeps them without knowing they exist.

Concurrency: the recomputation of a group reads every initiative of the group, so two
transactions touching one group take turns on a transaction-level advisory lock per group
(``LOCK_CLASS``, taken in a fixed order); the second recomputes after the first commits
(in READ COMMITTED each statement of the trigger function sees the rows committed
before it started) and sees its rows. A stage-history change first locks its
initiatives' rows (``FOR NO KEY UPDATE``, in id order), so a concurrent move of the
initiative to another unit cannot change the group under it. An initiative's stays are
recomputed while its row is locked (by the statement that changed it, or by that lock).
"""

from __future__ import annotations

from django.db import connection

from portfolio.choices import ACTIVE_STAGES
from portfolio.sql_triggers import changed_rows, drop_statement_triggers, statement_triggers

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


#: The stays' columns (``FlowStay``).
STAY_COLUMNS = ["initiative_id", "business_unit_id", "stage", "entered", "left_at", "days"]


def stays_definition(ids: str) -> str:
    """The stays (``STAY_COLUMNS``) in an active stage of the initiatives whose ids ``ids``
    (a query) selects: the one definition of the flow page's time in stage. From the stage
    history (decisions that changed the stage, imports left out): each decision starts a
    stay in its new stage that the next decision ends, and the first decision ends the
    stay in the stage it left, which began at the start (``started_on``, midnight UTC, else
    when the initiative was created); an initiative without such decisions is in its
    current stage since it entered it. ``days``: a completed stay's length in days, as the
    page computes it (numeric, then double precision)."""
    return f"""
    WITH t AS (
        SELECT t.id, t.initiative_id, t.from_stage, t.to_stage, t.decided_at
        FROM portfolio_stagetransition t
        WHERE t.initiative_id IN ({ids}) AND t.decision <> 'import'
          AND t.from_stage <> t.to_stage
    ), stays AS (
        SELECT initiative_id, to_stage AS stage, decided_at AS entered,
               LEAD(decided_at) OVER (PARTITION BY initiative_id ORDER BY decided_at, id)
                   AS left_at
        FROM t
        UNION ALL
        SELECT first.initiative_id, first.from_stage, first.entered, first.left_at FROM (
            SELECT DISTINCT ON (t.initiative_id) t.initiative_id, t.from_stage,
                   COALESCE(i.started_on::timestamp AT TIME ZONE 'UTC', i.created_at) AS entered,
                   t.decided_at AS left_at
            FROM t JOIN portfolio_initiative i ON i.id = t.initiative_id
            ORDER BY t.initiative_id, t.decided_at, t.id
        ) first
        UNION ALL
        SELECT i.id, i.stage, i.stage_entered_at, NULL
        FROM portfolio_initiative i
        WHERE i.id IN ({ids}) AND NOT EXISTS (SELECT 1 FROM t WHERE t.initiative_id = i.id)
    )
    SELECT s.initiative_id, i.business_unit_id, s.stage, s.entered, s.left_at,
           (EXTRACT(EPOCH FROM (s.left_at - s.entered)) / 86400.0)::float8
    FROM stays s JOIN portfolio_initiative i ON i.id = s.initiative_id
    WHERE s.stage IN {_in([s.value for s in ACTIVE_STAGES])}"""


def _refresh_stays(ids: str) -> str:
    return f"""
    DELETE FROM portfolio_flowstay WHERE initiative_id IN ({ids});
    INSERT INTO portfolio_flowstay ({", ".join(STAY_COLUMNS)}) {stays_definition(ids)};"""


def _refresh(touched: str, ids: str, *, lock: bool = False) -> str:
    """SQL recomputing the stays of the initiatives ``ids`` (a query) selects and the
    groups (business_unit_id, quarter) that ``touched`` selects; ``lock``: lock the
    initiatives' rows first (so that ``touched``, read after, cannot change before the
    transaction ends)."""
    groups = f"SELECT DISTINCT business_unit_id, quarter FROM ({touched}) g"
    locks = (
        f"""PERFORM 1 FROM portfolio_initiative WHERE id IN ({ids})
        ORDER BY id FOR NO KEY UPDATE;"""
        if lock
        else ""
    )
    return f"""
    {locks}
    IF NOT EXISTS ({touched}) THEN RETURN NULL; END IF;
    {_refresh_stays(ids)}
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
WATCHED = "{r}.stage, {r}.stage_entered_at, {r}.started_on, {r}.business_unit_id, {r}.created_at"
#: The stage history columns it reads.
WATCHED_HISTORY = "{r}.initiative_id, {r}.from_stage, {r}.to_stage, {r}.decision, {r}.decided_at"


def _changed(watched: str, side: str) -> str:
    """``FROM`` the changed rows' ``side`` versions, aliased ``o`` or ``n``."""
    return f"FROM {changed_rows('r.id, ' + watched.format(r='r'), side)} {side[0]}"


def _groups_of(rows: str) -> str:
    return f"SELECT r.business_unit_id, {quarter('r')} AS quarter FROM {rows} r"


_INITIATIVE_TOUCHED = {
    "INSERT": _groups_of("new_rows"),
    "DELETE": _groups_of("old_rows"),
    "UPDATE": (
        f"SELECT o.business_unit_id, {quarter('o')} AS quarter {_changed(WATCHED, 'old')}"
        f" UNION SELECT n.business_unit_id, {quarter('n')} {_changed(WATCHED, 'new')}"
    ),
}

_INITIATIVE_IDS = {
    "INSERT": "SELECT id FROM new_rows",
    "DELETE": "SELECT id FROM old_rows",
    "UPDATE": f"SELECT n.id {_changed(WATCHED, 'new')}",
}

_HISTORY_IDS = {
    "INSERT": "SELECT initiative_id FROM new_rows",
    "DELETE": "SELECT initiative_id FROM old_rows",
    "UPDATE": (
        f"SELECT o.initiative_id {_changed(WATCHED_HISTORY, 'old')}"
        f" UNION SELECT n.initiative_id {_changed(WATCHED_HISTORY, 'new')}"
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
{_by_op(lambda op: _refresh(_INITIATIVE_TOUCHED[op], _INITIATIVE_IDS[op]))}
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portfolio_flow_history_changed() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
{_by_op(lambda op: _refresh(_history_touched(_HISTORY_IDS[op]), _HISTORY_IDS[op], lock=True))}
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portfolio_flow_rebuild() RETURNS void
LANGUAGE plpgsql SET work_mem = '64MB' AS $$ BEGIN
    LOCK TABLE portfolio_initiative, portfolio_stagetransition IN SHARE MODE;
    DELETE FROM portfolio_flowcohort;
    INSERT INTO portfolio_flowcohort ({", ".join(COLUMNS)}) {definition("TRUE")};
    DELETE FROM portfolio_flowstay;
    INSERT INTO portfolio_flowstay ({", ".join(STAY_COLUMNS)})
        {stays_definition("SELECT id FROM portfolio_initiative")};
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
