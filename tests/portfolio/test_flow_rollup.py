"""The maintained flow rollup (``FlowCohort``: per unit and start quarter, the counts of the
flow page's cohorts and funnel) equals what the raw initiatives and their stage history
give after every kind of write: the stage decision service (advance, hold, roll back,
kill, retire), the initiative form, the API, the admin, the inventory import (new
initiatives with stage dates, a later file re-dating a stage), ``queryset.update``, the
move of an initiative to another unit, deletes of stage history and of initiatives.

The page's figures (cohorts, funnel) are those of the queries they replaced, kept below
verbatim as the oracle, on a portfolio with stage history (imports, holds, roll backs,
kills, retirements, unknown stages, initiatives with and without a start date)."""

from __future__ import annotations

import datetime as dt
import re

import pgtrigger
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from portfolio import analytics, flow_rollup
from portfolio.analytics import Cohort, _months_later
from portfolio.choices import ACTIVE_STAGES
from portfolio.models import FlowCohort, FlowStay, Initiative, StageTransition
from portfolio.services import initiative_move, stage_decide
from tests import factories as f

pytestmark = pytest.mark.django_db

NOW = timezone.now()
PRODUCTION = [s.value for s in ACTIVE_STAGES[1:]]


def _rank_sql(column: str) -> str:
    whens = " ".join(f"WHEN '{s.value}' THEN {i}" for i, s in enumerate(ACTIVE_STAGES))
    return f"(CASE {column} {whens} END)"


def _fetch(sql: str, params) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cols = [c.name for c in cursor.description]
        return [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]


# --- The oracle: the queries the page ran before the rollup, verbatim -------------------


def _visible_ids_sql(user, unit_ids=None) -> tuple[str, tuple]:
    qs = Initiative.objects.visible_to(user)
    if unit_ids is not None:
        qs = qs.filter(business_unit_id__in=unit_ids)
    from django.core.exceptions import EmptyResultSet

    try:
        sql, params = qs.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        # No unit in scope (Django cannot write `IN ()`): a subquery that selects nothing.
        return "SELECT NULL::bigint WHERE FALSE", ()
    return sql, params


def _in_scope(column: str, user, unit_ids=None) -> tuple[str, tuple]:
    if unit_ids is None and Initiative.objects.visible_unit_ids(user) is None:
        return "TRUE", ()
    ids, params = _visible_ids_sql(user, unit_ids)
    return f"{column} IN ({ids})", params


def old_time_in_stage(user, *, unit_ids=None) -> dict[str, dict]:
    """The stays' figures per stage, unrounded (the page rounds them to one decimal)."""
    scope_t, params = _in_scope("t.initiative_id", user, unit_ids)
    scope_i, _ = _in_scope("i.id", user, unit_ids)
    rows = _fetch(
        f"""
        WITH t AS (
            SELECT t.id, t.initiative_id, t.from_stage, t.to_stage, t.decided_at
            FROM portfolio_stagetransition t
            WHERE {scope_t} AND t.decision <> 'import'
              AND t.from_stage <> t.to_stage
        ), stays AS (
            SELECT to_stage AS stage, decided_at AS entered,
                   LEAD(decided_at) OVER (PARTITION BY initiative_id ORDER BY decided_at, id)
                       AS left_at
            FROM t
            UNION ALL
            SELECT first.from_stage, first.entered, first.left_at FROM (
                SELECT DISTINCT ON (t.initiative_id) t.from_stage,
                       COALESCE(i.started_on::timestamptz, i.created_at) AS entered,
                       t.decided_at AS left_at
                FROM t JOIN portfolio_initiative i ON i.id = t.initiative_id
                ORDER BY t.initiative_id, t.decided_at, t.id
            ) first
        ), all_stays AS (
            SELECT stage, entered, left_at FROM stays
            UNION ALL
            SELECT i.stage, i.stage_entered_at, NULL
            FROM portfolio_initiative i
            WHERE {scope_i} AND NOT EXISTS (SELECT 1 FROM t WHERE t.initiative_id = i.id)
        ), days AS (
            SELECT stage, left_at IS NOT NULL AS done,
                   EXTRACT(EPOCH FROM (COALESCE(left_at, now()) - entered)) / 86400.0 AS d
            FROM all_stays WHERE stage = ANY(%s)
        )
        SELECT stage,
               COUNT(*) FILTER (WHERE done) AS completed,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY d) FILTER (WHERE done) AS median_days,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY d) FILTER (WHERE done) AS p90_days,
               COUNT(*) FILTER (WHERE NOT done) AS ongoing,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY d) FILTER (WHERE NOT done)
                   AS ongoing_median_days
        FROM days GROUP BY stage""",
        [*params, *params, [s.value for s in ACTIVE_STAGES]],
    )
    by_stage = {r["stage"]: r for r in rows}
    empty = {"completed": 0, "median_days": None, "p90_days": None, "ongoing": 0}
    return {
        s.value: {
            k: by_stage.get(s.value, {}).get(k, empty.get(k))
            for k in ("completed", "median_days", "p90_days", "ongoing", "ongoing_median_days")
        }
        for s in ACTIVE_STAGES
    }


def old_cohorts(user, *, unit_ids=None, today=None) -> list[Cohort]:
    today = today or timezone.localdate()
    scope, params = _in_scope("i.id", user, unit_ids)
    rows = _fetch(
        f"""
        WITH ini AS (
            SELECT i.id, i.business_unit_id, i.stage,
                   COALESCE(i.started_on, (i.stage_entered_at AT TIME ZONE 'UTC')::date) AS started,
                   date_trunc('quarter', COALESCE(
                       i.started_on, (i.stage_entered_at AT TIME ZONE 'UTC')::date))::date AS q,
                   COALESCE(
                       (SELECT MIN((t.decided_at AT TIME ZONE 'UTC')::date)
                        FROM portfolio_stagetransition t
                        WHERE t.initiative_id = i.id AND t.to_stage = ANY(%s)
                          AND t.decision <> 'import'),
                       CASE WHEN i.stage = ANY(%s)
                            THEN (i.stage_entered_at AT TIME ZONE 'UTC')::date END
                   ) AS reached
            FROM portfolio_initiative i
            WHERE {scope} AND i.stage <> 'unknown'
        )
        SELECT ini.q AS quarter,
               u.id AS unit_id, u.name AS unit_name,
               COUNT(*) AS started,
               COUNT(*) FILTER (WHERE reached < started + interval '6 months') AS reached_6,
               COUNT(*) FILTER (WHERE reached < started + interval '12 months') AS reached_12,
               COUNT(*) FILTER (WHERE reached < started + interval '18 months') AS reached_18,
               COUNT(*) FILTER (WHERE ini.stage = 'killed') AS killed,
               COUNT(*) FILTER (WHERE ini.stage = 'proof_of_concept') AS in_pilot
        FROM ini JOIN people_businessunit u ON u.id = ini.business_unit_id
        GROUP BY GROUPING SETS ((ini.q), (ini.q, u.id, u.name))
        ORDER BY ini.q, (u.id IS NOT NULL), u.name""",
        [PRODUCTION, PRODUCTION, *params],
    )
    out = []
    for r in rows:
        q_end = _months_later(r["quarter"], 3)
        out.append(
            Cohort(
                quarter=r["quarter"],
                unit_id=r["unit_id"],
                unit_name=r["unit_name"] or "All units",
                started=r["started"],
                reached_6=r["reached_6"],
                reached_12=r["reached_12"],
                reached_18=r["reached_18"],
                killed=r["killed"],
                in_pilot=r["in_pilot"],
                observable_6=_months_later(q_end, 6) <= today,
                observable_12=_months_later(q_end, 12) <= today,
                observable_18=_months_later(q_end, 18) <= today,
            )
        )
    return out


def old_funnel_counts(user, *, unit_ids=None) -> list[int]:
    scope, params = _in_scope("i.id", user, unit_ids)
    n = len(ACTIVE_STAGES)
    cols = ", ".join(f"COUNT(*) FILTER (WHERE top >= {k}) AS r{k}" for k in range(n))
    rows = _fetch(
        f"""
        WITH tops AS (
            SELECT i.id, GREATEST({_rank_sql("i.stage")},
                                  MAX({_rank_sql("t.from_stage")}),
                                  MAX({_rank_sql("t.to_stage")}), 0) AS top
            FROM portfolio_initiative i
            LEFT JOIN portfolio_stagetransition t
                   ON t.initiative_id = i.id AND t.decision <> 'import'
            WHERE {scope} AND i.stage <> 'unknown'
            GROUP BY i.id, i.stage
        )
        SELECT {cols} FROM tops""",
        params,
    )
    return [rows[0][f"r{k}"] for k in range(n)] if rows else [0] * n


# --- The rollup's definition, written out from the raw rows (not with its SQL) ----------

EXPECTED = f"""
WITH ini AS (
    SELECT i.id, i.business_unit_id, i.stage,
           COALESCE(i.started_on, (i.stage_entered_at AT TIME ZONE 'UTC')::date) AS started,
           date_trunc('quarter', COALESCE(
               i.started_on, (i.stage_entered_at AT TIME ZONE 'UTC')::date))::date AS q,
           COALESCE(
               (SELECT MIN((t.decided_at AT TIME ZONE 'UTC')::date)
                FROM portfolio_stagetransition t
                WHERE t.initiative_id = i.id AND t.to_stage = ANY(%s)
                  AND t.decision <> 'import'),
               CASE WHEN i.stage = ANY(%s)
                    THEN (i.stage_entered_at AT TIME ZONE 'UTC')::date END) AS reached,
           (SELECT GREATEST({_rank_sql("i.stage")}, MAX({_rank_sql("t.from_stage")}),
                            MAX({_rank_sql("t.to_stage")}), 0)
            FROM portfolio_stagetransition t
            WHERE t.initiative_id = i.id AND t.decision <> 'import') AS top
    FROM portfolio_initiative i
    WHERE i.stage <> 'unknown'
)
SELECT business_unit_id, q, COUNT(*),
       COUNT(*) FILTER (WHERE reached < started + interval '6 months'),
       COUNT(*) FILTER (WHERE reached < started + interval '12 months'),
       COUNT(*) FILTER (WHERE reached < started + interval '18 months'),
       COUNT(*) FILTER (WHERE stage = 'killed'),
       COUNT(*) FILTER (WHERE stage = 'proof_of_concept'),
       COUNT(*) FILTER (WHERE top >= 1), COUNT(*) FILTER (WHERE top >= 2),
       COUNT(*) FILTER (WHERE top >= 3)
FROM ini GROUP BY business_unit_id, q ORDER BY 1, 2"""

# Every stay, per initiative, as the old query built them (the session is UTC, as Django's).
EXPECTED_STAYS = """
WITH t AS (
    SELECT t.id, t.initiative_id, t.from_stage, t.to_stage, t.decided_at
    FROM portfolio_stagetransition t
    WHERE t.decision <> 'import' AND t.from_stage <> t.to_stage
), stays AS (
    SELECT initiative_id, to_stage AS stage, decided_at AS entered,
           LEAD(decided_at) OVER (PARTITION BY initiative_id ORDER BY decided_at, id) AS left_at
    FROM t
    UNION ALL
    SELECT first.initiative_id, first.from_stage, first.entered, first.left_at FROM (
        SELECT DISTINCT ON (t.initiative_id) t.initiative_id, t.from_stage,
               COALESCE(i.started_on::timestamptz, i.created_at) AS entered,
               t.decided_at AS left_at
        FROM t JOIN portfolio_initiative i ON i.id = t.initiative_id
        ORDER BY t.initiative_id, t.decided_at, t.id
    ) first
    UNION ALL
    SELECT i.id, i.stage, i.stage_entered_at, NULL
    FROM portfolio_initiative i
    WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.initiative_id = i.id)
)
SELECT s.initiative_id, i.business_unit_id, s.stage, s.entered, s.left_at,
       (EXTRACT(EPOCH FROM (s.left_at - s.entered)) / 86400.0)::float8
FROM stays s JOIN portfolio_initiative i ON i.id = s.initiative_id
WHERE s.stage = ANY(%s)
ORDER BY 1, 4, 3, 5"""
STORED_STAYS = """
SELECT initiative_id, business_unit_id, stage, entered, left_at, days
FROM portfolio_flowstay ORDER BY 1, 4, 3, 5"""

STORED = f"""SELECT {", ".join(flow_rollup.COLUMNS)} FROM portfolio_flowcohort ORDER BY 1, 2"""


def _rows(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def assert_rollup_matches_definition() -> list[tuple]:
    expected = _rows(EXPECTED, [PRODUCTION, PRODUCTION])
    assert _rows(STORED) == expected
    assert _rows(STORED_STAYS) == _rows(EXPECTED_STAYS, [[s.value for s in ACTIVE_STAGES]])
    return expected


# --- A portfolio with stage history ------------------------------------------------------


def _at(days_ago: int):
    return NOW - dt.timedelta(days=days_ago)


def _journey(unit, code, *, started_days_ago, moves, decider, started=True, stage=None):
    """An initiative started ``started_days_ago`` (``started_on`` set, or left empty: the
    start is then its stage date), then ``moves``: (days_ago, decision, from, to)."""
    final = stage or (moves[-1][3] if moves else "proof_of_concept")
    entered = _at(moves[-1][0]) if moves else _at(started_days_ago)
    initiative = f.InitiativeFactory(
        code=code,
        business_unit=unit,
        stage=final,
        status="closed" if final in ("killed", "retired") else "active",
        started_on=_at(started_days_ago).date() if started else None,
        stage_entered_at=entered,
    )
    for days_ago, decision, from_stage, to_stage in moves:
        f.StageTransitionFactory(
            initiative=initiative,
            decision=decision,
            from_stage=from_stage,
            to_stage=to_stage,
            decided_at=_at(days_ago),
            decided_by=None if decision == "import" else decider,
            source="inventory.csv" if decision == "import" else "",
        )
    return initiative


PC, IP, SD, INST = (s.value for s in ACTIVE_STAGES)


def build_portfolio(units, decider, prefix: str = "FL") -> list[Initiative]:
    a, b, c = units
    made = []
    for n, unit in enumerate((a, b, c, a, b)):
        d = 40 + 97 * n
        made += [
            _journey(unit, f"{prefix}-{n}-1", started_days_ago=d + 700, decider=decider, moves=[]),
            _journey(
                unit,
                f"{prefix}-{n}-2",
                started_days_ago=d + 600,
                decider=decider,
                moves=[(d + 500, "advance", PC, IP), (d + 100, "advance", IP, SD)],
            ),
            _journey(
                unit,
                f"{prefix}-{n}-3",
                started_days_ago=d + 400,
                decider=decider,
                moves=[(d + 300, "hold", PC, PC), (d + 50, "kill", PC, "killed")],
            ),
            # Advanced, then rolled back: reached production, now a pilot again.
            _journey(
                unit,
                f"{prefix}-{n}-4",
                started_days_ago=d + 300,
                decider=decider,
                moves=[(d + 250, "advance", PC, IP), (d + 20, "roll_back", IP, PC)],
            ),
            # No start date: its stage date is its start.
            _journey(
                unit,
                f"{prefix}-{n}-5",
                started_days_ago=d + 200,
                decider=decider,
                started=False,
                moves=[(d + 10, "advance", PC, IP)],
            ),
            # Imported as institutional: an import is not a decision.
            _journey(
                unit,
                f"{prefix}-{n}-6",
                started_days_ago=d + 900,
                decider=decider,
                moves=[(d + 5, "import", "unknown", INST)],
            ),
            # In production with no recorded decision.
            _journey(
                unit,
                f"{prefix}-{n}-7",
                started_days_ago=d + 150,
                decider=decider,
                stage=SD,
                moves=[],
            ),
            _journey(
                unit,
                f"{prefix}-{n}-8",
                started_days_ago=d + 800,
                decider=decider,
                moves=[
                    (d + 700, "advance", PC, IP),
                    (d + 600, "advance", IP, SD),
                    (d + 300, "advance", SD, INST),
                    (d + 30, "retire", INST, "retired"),
                ],
            ),
            _journey(
                unit,
                f"{prefix}-{n}-9",
                started_days_ago=d,
                decider=decider,
                stage="unknown",
                moves=[],
            ),
        ]
    return made


@pytest.fixture
def flow_portfolio(unit_a, unit_a_child, unit_b, pmo):
    return build_portfolio((unit_a, unit_a_child, unit_b), pmo)


# --- The page's figures are the old queries' ---------------------------------------------


def test_built_by_the_migration_and_backfilled_like_the_triggers(flow_portfolio):
    expected = assert_rollup_matches_definition()
    assert len(expected) > 10
    stays = _rows(STORED_STAYS)
    assert any(r[4] is not None for r in stays) and any(r[4] is None for r in stays)
    FlowCohort.objects.all().delete()
    FlowStay.objects.all().delete()
    flow_rollup.rebuild()
    assert _rows(STORED) == expected
    assert _rows(STORED_STAYS) == stays


def test_figures_are_the_old_queries_on_a_portfolio_with_history(
    flow_portfolio, pmo, finance, lead_a, lead_b, unit_a, unit_a_child, unit_b
):
    assert StageTransition.objects.count() > 20
    for user in (pmo, finance, lead_a, lead_b):
        for unit_ids in (None, [unit_a.pk], [unit_a_child.pk], [unit_a.pk, unit_b.pk], []):
            cohorts = analytics.cohorts(user, unit_ids=unit_ids)
            assert cohorts == old_cohorts(user, unit_ids=unit_ids), (user, unit_ids)
            funnel = [s["reached"] for s in analytics.funnel(user, unit_ids=unit_ids)]
            assert funnel == old_funnel_counts(user, unit_ids=unit_ids), (user, unit_ids)
            # Unrounded, to the last bit of the double (same transaction: same now()).
            stays = analytics.stay_percentiles(user, unit_ids=unit_ids)
            assert stays == old_time_in_stage(user, unit_ids=unit_ids), (user, unit_ids)
    # Observability is today's: an older "today" hides the young cohorts' shares.
    day = timezone.localdate() - dt.timedelta(days=400)
    assert analytics.cohorts(pmo, today=day) == old_cohorts(pmo, today=day)
    overall = [c for c in analytics.cohorts(pmo) if c.unit_id is None]
    assert sum(c.started for c in overall) == 40
    figures = analytics.stay_percentiles(pmo)
    assert all(figures[s]["completed"] >= 3 for s in (PC, IP, SD))
    assert all(figures[s]["ongoing"] for s in (PC, IP, SD, INST))
    assert any(c.reached_6 for c in overall) and any(c.killed for c in overall)


def test_the_unit_filter_uses_the_descendants_subquery(flow_portfolio, pmo, lead_a, unit_a):
    from portfolio.selectors import unit_descendant_ids

    ids = unit_descendant_ids(unit_a.pk)
    for user in (pmo, lead_a):
        assert analytics.cohorts(user, unit_ids=ids) == old_cohorts(user, unit_ids=ids)
        assert [s["reached"] for s in analytics.funnel(user, unit_ids=ids)] == (
            old_funnel_counts(user, unit_ids=ids)
        )
        assert analytics.stay_percentiles(user, unit_ids=ids) == old_time_in_stage(
            user, unit_ids=ids
        )


def test_page_html_and_csv_are_those_of_the_old_queries(
    client, flow_portfolio, pmo, lead_a, unit_a, monkeypatch
):
    def pages(user):
        client.force_login(user)
        out = []
        for url in (
            reverse("flow"),
            reverse("flow") + f"?unit={unit_a.pk}",
            reverse("flow_csv", args=["cohorts"]),
            reverse("flow_csv", args=["funnel"]),
        ):
            response = client.get(url)
            assert response.status_code == 200
            body = response.content.decode()
            out.append(re.sub(r'(csrfmiddlewaretoken" value=|X-CSRFToken": )"[^"]+"', "", body))
        return out

    new = {user.pk: pages(user) for user in (pmo, lead_a)}

    def old_funnel(user, *, unit_ids=None):
        return _funnel_rows(old_funnel_counts(user, unit_ids=unit_ids))

    def old_stays(user, *, unit_ids=None):
        return old_time_in_stage(user, unit_ids=unit_ids)

    monkeypatch.setattr(analytics, "cohorts", old_cohorts)
    monkeypatch.setattr(analytics, "funnel", old_funnel)
    monkeypatch.setattr(analytics, "stay_percentiles", old_stays)
    old = {user.pk: pages(user) for user in (pmo, lead_a)}
    assert new == old
    assert "By unit" in new[pmo.pk][0]


def _funnel_rows(counts):
    from decimal import Decimal

    n = len(ACTIVE_STAGES)
    out = []
    for k, s in enumerate(ACTIVE_STAGES):
        nxt = counts[k + 1] if k + 1 < n else None
        rate = (
            (Decimal(nxt) / counts[k]).quantize(Decimal("0.0001"))
            if nxt is not None and counts[k]
            else None
        )
        out.append({"stage": s.value, "label": s.label, "reached": counts[k], "conversion": rate})
    return out


def test_page_queries_do_not_grow_with_the_portfolio(client, pmo, lead_a, unit_a, unit_b):
    def count(user):
        client.force_login(user)
        client.get(reverse("flow"))  # sessions, caches
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("flow")).status_code == 200
        return len(ctx.captured_queries)

    build_portfolio((unit_a, unit_b, unit_b), pmo)
    small = {u.pk: count(u) for u in (pmo, lead_a)}
    build_portfolio((unit_a, unit_b, f.BusinessUnitFactory(code="FLX")), pmo, prefix="FM")
    build_portfolio((unit_b, unit_a, unit_a), pmo, prefix="FN")
    assert {u.pk: count(u) for u in (pmo, lead_a)} == small
    # Cohorts, time in stage, funnel, graveyard totals: one query each on top of the
    # page's own (session, user, permissions, units, graveyard page).
    analytics.cohorts(pmo)  # the user's permissions, cached on the user
    with CaptureQueriesContext(connection) as ctx:
        analytics.cohorts(pmo)
        analytics.funnel(pmo)
        analytics.time_in_stage(pmo)
    assert len(ctx.captured_queries) == 3
    assert all("portfolio_flow" in q["sql"] for q in ctx.captured_queries)
    assert not any("portfolio_initiative" in q["sql"] for q in ctx.captured_queries)


def test_page_query_count(client, django_assert_num_queries, flow_portfolio, pmo, lead_a):
    for user, queries in ((pmo, PMO_QUERIES), (lead_a, LEAD_QUERIES)):
        client.force_login(user)
        client.get(reverse("flow"))
        with django_assert_num_queries(queries):
            assert client.get(reverse("flow")).status_code == 200


PMO_QUERIES = 14
LEAD_QUERIES = 16


def test_a_lead_of_another_unit_gets_a_404_for_its_unit(client, flow_portfolio, lead_b, unit_a):
    client.force_login(lead_b)
    assert client.get(reverse("flow") + f"?unit={unit_a.pk}").status_code == 404
    assert (
        client.get(reverse("flow_csv", args=["cohorts"]) + f"?unit={unit_a.pk}").status_code == 404
    )
    html = client.get(reverse("flow")).content.decode()
    assert f"<td>{unit_a.name}</td>" not in html


# --- Every write path keeps it exact ------------------------------------------------------


def test_stage_decisions_through_the_service(flow_portfolio, pmo, unit_a):
    initiative = f.InitiativeFactory(
        business_unit=unit_a, started_on=_at(500).date(), stage_entered_at=_at(500)
    )
    assert_rollup_matches_definition()
    review = f.GateReviewFactory(initiative=initiative, from_stage=PC, target_stage=IP)
    stage_decide(
        acting_user=pmo,
        initiative=initiative,
        decision="advance",
        rationale="Met its targets.",
        gate_review_id=review.pk,
    )
    assert_rollup_matches_definition()
    stage_decide(acting_user=pmo, initiative=initiative, decision="hold", rationale="Wait.")
    assert_rollup_matches_definition()
    stage_decide(acting_user=pmo, initiative=initiative, decision="roll_back", rationale="Back.")
    assert_rollup_matches_definition()
    stage_decide(acting_user=pmo, initiative=initiative, decision="kill", rationale="No value.")
    assert_rollup_matches_definition()
    other = Initiative.objects.get(code="FL-0-7")
    stage_decide(acting_user=pmo, initiative=other, decision="retire", rationale="Done.")
    # An initiative with no start date moves to its new stage date's quarter.
    undated = Initiative.objects.get(code="FL-0-5")
    before = _rows(STORED)
    stage_decide(acting_user=pmo, initiative=undated, decision="kill", rationale="Stop.")
    assert _rows(STORED) != before
    assert_rollup_matches_definition()


def test_form_edit_of_the_start_and_the_unit(client, flow_portfolio, pmo, unit_b):
    initiative = Initiative.objects.get(code="FL-0-2")
    client.force_login(pmo)
    url = reverse("initiative_edit", args=[initiative.pk])
    form = client.get(url).context["form"]
    data = {
        name: form[name].value()
        for name in form.fields
        if form[name].value() not in (None, "", [], False)
    }
    data["started_on"] = (initiative.started_on - dt.timedelta(days=200)).isoformat()
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    initiative.refresh_from_db()
    assert initiative.started_on.isoformat() == data["started_on"]
    assert_rollup_matches_definition()
    data["business_unit"] = unit_b.pk
    data.pop("started_on")
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    assert Initiative.objects.get(pk=initiative.pk).business_unit_id == unit_b.pk
    assert_rollup_matches_definition()


def test_api_edit_of_the_start_and_the_unit(flow_portfolio, pmo, unit_b):
    initiative = Initiative.objects.get(code="FL-1-3")
    api = APIClient()
    api.force_authenticate(pmo)
    url = reverse("v1:initiative-detail", args=[initiative.pk])
    response = api.patch(url, {"started_on": "2019-02-03"}, format="json")
    assert response.status_code == 200, response.content
    assert_rollup_matches_definition()
    assert FlowCohort.objects.filter(
        business_unit_id=initiative.business_unit_id, quarter=dt.date(2019, 1, 1)
    ).exists()
    response = api.patch(url, {"started_on": None}, format="json")
    assert response.status_code == 200, response.content
    assert_rollup_matches_definition()
    response = api.patch(url, {"business_unit": unit_b.pk}, format="json")
    assert response.status_code == 200, response.content
    assert Initiative.objects.get(pk=initiative.pk).business_unit_id == unit_b.pk
    assert_rollup_matches_definition()


def test_admin_edit(client, flow_portfolio):
    from tests.admin_forms import post_change

    initiative = Initiative.objects.get(code="FL-2-4")
    client.force_login(f.UserFactory(username="root", is_staff=True, is_superuser=True))
    response = post_change(client, initiative, started_on="2018-05-06")
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Initiative.objects.get(pk=initiative.pk).started_on == dt.date(2018, 5, 6)
    assert_rollup_matches_definition()


def test_move_to_another_unit(flow_portfolio, pmo, unit_a, unit_b):
    initiative = Initiative.objects.get(code="FL-0-8")
    initiative_move(acting_user=pmo, initiative=initiative, business_unit=unit_b)
    assert Initiative.objects.get(pk=initiative.pk).business_unit_id == unit_b.pk
    assert_rollup_matches_definition()


def test_bulk_updates(flow_portfolio, unit_a):
    Initiative.objects.filter(business_unit=unit_a).update(stage_entered_at=_at(3))
    assert_rollup_matches_definition()
    Initiative.objects.filter(stage="proof_of_concept").update(stage="initial_production")
    assert_rollup_matches_definition()
    Initiative.objects.filter(started_on__isnull=False).update(started_on=dt.date(2021, 8, 9))
    assert_rollup_matches_definition()
    Initiative.objects.filter(code__startswith="FL-1").update(stage="unknown")
    assert_rollup_matches_definition()
    # An update of other columns leaves the rollup as it is.
    before = _rows(STORED)
    Initiative.objects.update(name="Renamed")
    assert _rows(STORED) == before


def test_deletes_of_stage_history_and_initiatives(flow_portfolio):
    with pgtrigger.ignore("portfolio.StageTransition:stage_history_append_only"):
        StageTransition.objects.filter(initiative__code="FL-0-2").delete()
        assert_rollup_matches_definition()
        StageTransition.objects.filter(
            decision="advance", initiative__code__startswith="FL-3"
        ).delete()
        assert_rollup_matches_definition()
        doomed = Initiative.objects.filter(code__startswith="FL-4")
        StageTransition.objects.filter(initiative__in=doomed).delete()
        doomed.delete()
    assert_rollup_matches_definition()
    Initiative.objects.get(code="FL-0-1").delete()
    assert_rollup_matches_definition()
    Initiative.objects.filter(transitions__isnull=True).delete()
    assert_rollup_matches_definition()


def test_new_stage_history_rows(flow_portfolio, pmo):
    initiative = Initiative.objects.get(code="FL-2-1")
    f.StageTransitionFactory(
        initiative=initiative, decision="advance", from_stage=PC, to_stage=IP, decided_at=_at(5)
    )
    assert_rollup_matches_definition()
    StageTransition.objects.bulk_create(
        [
            StageTransition(
                initiative=i,
                business_unit_id=i.business_unit_id,
                from_stage=PC,
                to_stage=IP,
                decision="advance",
                rationale="Bulk.",
                decided_by=pmo,
                decided_at=_at(2),
            )
            for i in Initiative.objects.filter(code__endswith="-1")
        ]
    )
    assert_rollup_matches_definition()


def test_inventory_import_creates_and_redates(db, pmo):
    from governance.inventory.importer import inventory_import
    from governance.inventory.mapping import load_mapping
    from tests.governance.inventory.helpers import csv_bytes

    row = {
        "agency": "DOJ",
        "agency_name": "Department of Justice",
        "id": "DOJ-2",
        "use_case_name": "Summariser",
        "agency_bureau": "FBI",
        "development_stage": "Pilot",
        "problem_solved": "Long documents.",
        "benefits": "Short summaries.",
        "contracting_usage": "In-house Development",
        "has_pii": "No",
    }
    rows = [
        row,
        {**row, "id": "DOJ-3", "use_case_name": "Dated", "operational_date": "03/2024"},
        {
            **row,
            "id": "DOJ-4",
            "use_case_name": "Live",
            "development_stage": "Operation and Maintenance",
            "operational_date": "07/2023",
        },
    ]
    omb = load_mapping(format_name="omb-2025")

    def run(rows_):
        return inventory_import(
            acting_user=None, data=csv_bytes(rows_), filename="f.csv", mapping=omb
        )

    run(rows)
    assert Initiative.objects.count() == 3
    assert FlowCohort.objects.exists()
    assert_rollup_matches_definition()
    run([{**row, "operational_date": "05/2022"}, *rows[1:]])
    assert_rollup_matches_definition()
    summariser = Initiative.objects.get(name="Summariser")
    stage_decide(acting_user=pmo, initiative=summariser, decision="kill", rationale="No value.")
    assert_rollup_matches_definition()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 10, 11, 100, 101, 1001])
def test_percentiles_from_two_ranked_values_are_postgresqls_to_the_bit(n):
    import math
    import random

    from portfolio.analytics import _percentile

    rng = random.Random(n)
    values = sorted(rng.uniform(0, 2000) for _ in range(n))
    for p in (0.5, 0.9):
        [[expected]] = _rows(
            "SELECT percentile_cont(%s::float8) WITHIN GROUP (ORDER BY v) FROM unnest(%s::float8[]) v",
            [p, values],
        )
        rank = math.floor(p * (n - 1))
        assert _percentile(p, n, values[rank : rank + 2]) == expected
    assert _percentile(0.5, 0, []) is None
