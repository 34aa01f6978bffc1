"""Issue 14, part 3: portfolio flow analytics (page, API, CSV), computed by the database,
scoped, with flat query counts; sunk cost kept in its currency and converted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portfolio import analytics
from tests import factories as f

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _at(days_ago: int):
    return NOW - dt.timedelta(days=days_ago)


def _journey(unit, code, *, started_days_ago, moves, decider):
    """An initiative started ``started_days_ago`` as a pilot, then ``moves``: a list of
    (days_ago, decision, from_stage, to_stage, extra)."""
    stage = moves[-1][3] if moves else "proof_of_concept"
    entered = _at(moves[-1][0]) if moves else _at(started_days_ago)
    initiative = f.InitiativeFactory(
        code=code,
        business_unit=unit,
        stage=stage,
        status="closed" if stage in ("killed", "retired") else "active",
        started_on=(NOW - dt.timedelta(days=started_days_ago)).date(),
        stage_entered_at=entered,
    )
    for days_ago, decision, from_stage, to_stage, extra in moves:
        f.StageTransitionFactory(
            initiative=initiative,
            decision=decision,
            from_stage=from_stage,
            to_stage=to_stage,
            decided_at=_at(days_ago),
            decided_by=decider,
            rationale=extra.pop("rationale", f"{decision} decided"),
            **extra,
        )
    return initiative


@pytest.fixture
def portfolio(unit_a, unit_b, pmo):
    # Four pilots started ~700 days ago (one cohort): two reached production (after 100
    # and 300 days: both within 12 months), one killed, one still in pilot.
    a1 = _journey(
        unit_a,
        "AI-F-1",
        started_days_ago=700,
        decider=pmo,
        moves=[(600, "advance", "proof_of_concept", "initial_production", {})],
    )
    _journey(
        unit_a,
        "AI-F-2",
        started_days_ago=700,
        decider=pmo,
        moves=[
            (400, "advance", "proof_of_concept", "initial_production", {}),
            (100, "advance", "initial_production", "scaled_deployment", {}),
        ],
    )
    _journey(
        unit_b,
        "AI-F-3",
        started_days_ago=700,
        decider=pmo,
        moves=[
            (
                500,
                "kill",
                "proof_of_concept",
                "killed",
                {
                    "rationale": "The vendor model could not read handwritten claims.",
                    "lessons": "Agree the baseline before building.",
                    "salvaged": "Labelled claims dataset",
                    "sunk_cost": D("100000"),
                    "sunk_cost_currency": "EUR",
                },
            )
        ],
    )
    _journey(unit_b, "AI-F-4", started_days_ago=700, decider=pmo, moves=[])
    f.ExchangeRateFactory(currency="EUR", valid_from=dt.date(2020, 1, 1), rate=D("1.10"))
    return a1


def test_cohorts_funnel_and_time_in_stage(portfolio, pmo):
    [overall] = [c for c in analytics.cohorts(pmo) if c.unit_id is None]
    assert overall.started == 4
    assert (overall.reached_6, overall.reached_12, overall.reached_18) == (1, 2, 2)
    assert overall.share_12 == D("0.5000")
    assert overall.share_killed == D("0.2500") and overall.share_in_pilot == D("0.2500")
    by_unit = {c.unit_name: c.started for c in analytics.cohorts(pmo) if c.unit_id}
    assert by_unit == {"Retail Banking": 2, "Wealth Management": 2}

    steps = {s["stage"]: s for s in analytics.funnel(pmo)}
    assert steps["proof_of_concept"]["reached"] == 4
    assert steps["initial_production"]["reached"] == 2
    assert steps["proof_of_concept"]["conversion"] == D("0.5000")
    assert steps["initial_production"]["conversion"] == D("0.5000")

    pilot = analytics.time_in_stage(pmo)[0]
    # Completed pilot stays: 100, 300 and 200 days; one still in pilot (700 days).
    assert pilot["completed"] == 3 and pilot["median_days"] == pytest.approx(200, abs=1)
    assert pilot["ongoing"] == 1


def test_graveyard_keeps_the_currency_converts_and_searches_lessons(portfolio, pmo, lead_a):
    [grave] = analytics.graveyard(pmo)
    assert (grave.sunk_cost, grave.sunk_cost_currency) == (D("100000.00"), "EUR")
    assert grave.sunk_reporting == D("110000.00")
    assert [g.initiative.code for g in analytics.graveyard(pmo, q="baseline")] == ["AI-F-3"]
    assert list(analytics.graveyard(pmo, q="blockchain")) == []
    [total] = analytics.graveyard_totals(pmo)
    assert (total["kills"], total["sunk"]) == (1, D("110000.00"))
    assert list(analytics.graveyard(lead_a)) == []  # unit B's kill


def test_salvage_reused_by_another_initiative_is_linked(portfolio, pmo, client):
    [grave] = analytics.graveyard(pmo)
    grave.reused_by.add(portfolio)
    [row] = analytics.with_reuses(analytics.graveyard(pmo), pmo)
    assert row.reuses == [portfolio]
    client.force_login(pmo)
    response = client.get(reverse("flow"))
    assert reverse("initiative_detail", args=[portfolio.pk]).encode() in response.content


def test_flow_page_api_and_csv(portfolio, pmo, client):
    client.force_login(pmo)
    response = client.get(reverse("flow") + "?q=baseline")
    assert response.status_code == 200
    assert response.context["pilot_conversion"] == D("0.5000")
    assert b"EUR 100,000" in response.content and b"USD 110,000" in response.content
    api = client.get("/api/v1/analytics/flow/").json()
    assert api["pilot_conversion"] == "0.5000"
    assert api["median_days_in_pilot"] == pytest.approx(200, abs=1)
    assert api["graveyard_totals"][0]["sunk"] == "110000.00"
    csv_text = client.get(reverse("flow_csv", args=["graveyard"])).content.decode()
    assert "AI-F-3" in csv_text and "EUR" in csv_text
    assert client.get(reverse("flow_csv", args=["nope"])).status_code == 404


def test_unit_lead_sees_own_units_flow_and_gets_404_for_another_unit(
    portfolio, lead_a, unit_b, client
):
    client.force_login(lead_a)
    response = client.get(reverse("flow"))
    assert [c.started for c in response.context["overall_cohorts"]] == [2]
    assert b"AI-F-3" not in response.content
    assert client.get(reverse("flow") + f"?unit={unit_b.pk}").status_code == 404
    assert client.get(f"/api/v1/analytics/flow/?unit={unit_b.pk}").status_code == 404
    assert (
        client.get(reverse("flow_csv", args=["cohorts"]) + f"?unit={unit_b.pk}").status_code == 404
    )


def test_flow_page_query_count_is_flat(unit_a, pmo, client):
    client.force_login(pmo)

    def count(n):
        for i in range(n):
            _journey(
                unit_a,
                f"AI-Q-{n}-{i}",
                started_days_ago=400 + i,
                decider=pmo,
                moves=[
                    (
                        100,
                        "kill",
                        "proof_of_concept",
                        "killed",
                        {"sunk_cost": D("10"), "sunk_cost_currency": "USD"},
                    )
                ],
            )
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("flow")).status_code == 200
        return len(ctx.captured_queries)

    assert count(3) == count(30)


def test_linking_a_reuse_is_scoped(portfolio, client, lead_a, lead_b):
    [grave] = analytics.graveyard(lead_b)  # unit B's kill
    url = reverse("graveyard_reuse", args=[grave.pk])
    client.force_login(lead_a)
    assert client.post(url, {"initiative": "AI-F-1"}).status_code == 404
    client.force_login(lead_b)
    client.post(url, {"initiative": "AI-F-1"})  # unit A's initiative: not lead_b's
    assert not grave.reused_by.exists()
    client.post(url, {"initiative": "AI-F-4"})
    assert [i.code for i in grave.reused_by.all()] == ["AI-F-4"]
