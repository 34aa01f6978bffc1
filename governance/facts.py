"""The scorecard's per-initiative facts (``portfolio.InitiativeFacts``): the governance
columns' SQL.

``governance_facts_refresh(ids)`` recomputes ``deployed``, ``revalidation_due`` and
``review_due`` of those initiatives from the AI systems, their model versions and the
risk assessments, under the same row locks as ``portfolio.facts`` (which creates the
rows). Statement-level ``AFTER`` triggers call it with the initiatives each statement
touched: an AI system's initiative (old and new), a model version's system's initiative
(old and new system), a risk assessment's initiative.

The day a model's revalidation falls due is its validation time's day in UTC plus its
retraining interval; the scorecard counts it as retrained while that day is not past.
"""

from __future__ import annotations

from django.db import connection

from portfolio.facts import trigger_function
from portfolio.sql_triggers import drop_statement_triggers

REFRESH_SQL = """
CREATE OR REPLACE FUNCTION governance_facts_refresh(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN RETURN; END IF;
    PERFORM portfolio_facts_lock(ids);
    UPDATE portfolio_initiativefacts f SET
        deployed = EXISTS (
            SELECT 1 FROM governance_aisystem sy
            JOIN governance_modelversion mv ON mv.ai_system_id = sy.id
            WHERE sy.initiative_id = f.initiative_id AND mv.status = 'production'),
        revalidation_due = (
            SELECT MAX((mv.last_validated_at AT TIME ZONE 'UTC')::date
                       + mv.retrain_interval_days)
            FROM governance_aisystem sy
            JOIN governance_modelversion mv ON mv.ai_system_id = sy.id
            WHERE sy.initiative_id = f.initiative_id AND mv.status = 'production'
              AND mv.retrain_interval_days IS NOT NULL),
        review_due = (
            SELECT MAX(COALESCE(ra.next_review_due, DATE '9999-12-31'))
            FROM governance_riskassessment ra
            WHERE ra.initiative_id = f.initiative_id
              AND ra.status IN ('current', 'reopened'))
    WHERE f.initiative_id = ANY(ids);
END $$;

-- A model version names its system: the initiatives of the systems of its rows.
CREATE OR REPLACE FUNCTION governance_facts_refresh_systems(systems bigint[]) RETURNS void
LANGUAGE sql AS $$
    SELECT governance_facts_refresh(ARRAY(
        SELECT DISTINCT initiative_id FROM governance_aisystem
        WHERE id = ANY(systems) AND initiative_id IS NOT NULL))
$$;
"""

SOURCES = {
    "governance_aisystem": ("initiative_id", ("initiative_id",), "governance_facts_refresh"),
    "governance_modelversion": (
        "ai_system_id",
        ("ai_system_id", "status", "retrain_interval_days", "last_validated_at"),
        "governance_facts_refresh_systems",
    ),
    "governance_riskassessment": (
        "initiative_id",
        ("initiative_id", "status", "next_review_due"),
        "governance_facts_refresh",
    ),
}

INSTALL_SQL = REFRESH_SQL + "".join(
    trigger_function(table, column, watched, refresh)
    for table, (column, watched, refresh) in SOURCES.items()
)

UNINSTALL_SQL = (
    "".join(drop_statement_triggers("facts", t) for t in SOURCES)
    + "".join(f"\nDROP FUNCTION IF EXISTS {t}_facts();" for t in SOURCES)
    + """
DROP FUNCTION IF EXISTS governance_facts_refresh_systems(bigint[]);
DROP FUNCTION IF EXISTS governance_facts_refresh(bigint[]);
"""
)


def install() -> None:
    with connection.cursor() as cursor:
        cursor.execute(INSTALL_SQL)


def rebuild() -> None:
    """Recompute every initiative's governance facts."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT governance_facts_refresh(ARRAY(SELECT initiative_id "
            "FROM portfolio_initiativefacts))"
        )
