"""Issue 14, part 5: the scaling scorecard per unit over the eight dimensions, computed
from the records with its parts, a monthly snapshot, the heatmap, the API, scoped."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portfolio.models import ScorecardSnapshot
from portfolio.scorecard import scorecards, snapshot_take
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(unit_a, unit_a_child, unit_b, lead_a, member_a):
    """Unit A (with its child): two active initiatives, one in production; unit B: one
    pilot with nothing."""
    objective = f.ObjectiveFactory()
    pilot = f.InitiativeFactory(business_unit=unit_a, stage="proof_of_concept")
    pilot.objectives.add(objective)
    f.KPIFactory(initiative=pilot, kind="business", baseline_value=10)
    prod = f.InitiativeFactory(
        business_unit=unit_a_child, stage="initial_production", integration_depth="embedded"
    )
    for role, user in (
        ("requirements_owner", member_a),
        ("operator", lead_a),
        ("accountable_executive", lead_a),
    ):
        f.AssignmentFactory(initiative=prod, role=role, user=user)
    f.BudgetFactory(initiative=prod, kind="operational", status="approved", approved_by=lead_a)
    f.AdoptionSnapshotFactory(initiative=prod, eligible_users=100, active_users=60)
    f.TrainingCompletionFactory(user=member_a, business_unit=unit_a)
    review = f.GateReviewFactory(initiative=pilot)
    for dim, met in (
        ("infrastructure", True),
        ("infrastructure", False),
        ("security_governance", True),
    ):
        f.GateCriterionResultFactory(review=review, dimension=dim, met=met)
    f.InitiativeFactory(business_unit=unit_b, stage="proof_of_concept")
    return pilot, prod


def test_scores_come_from_the_records_with_their_parts(records, unit_a, unit_b):
    a, b = scorecards([unit_a.pk, unit_b.pk])
    s = a.as_scores()
    assert s["strategic_alignment"] == 50  # 1 of 2 active initiatives
    assert s["measurement"] == 50
    assert s["organisational_structure"] == 50
    assert s["financial_model"] == 100  # the production one has an operational budget
    assert s["integration_depth"] == 67  # embedded: 2 of 3 points
    assert s["infrastructure"] == 50 and s["security_governance"] == 100
    # Training beside adoption: 1 of 2 members trained (50), 60 of 100 users active (60).
    culture = next(d for d in a.dimensions if d.dimension == "culture_adoption")
    assert culture.score == 55
    assert [(p.numerator, p.denominator) for p in culture.parts] == [(1, 2), (60, 100)]
    assert b.as_scores()["strategic_alignment"] == 0
    assert b.as_scores()["infrastructure"] is None  # no gate review: nothing to judge
    assert a.weakest_first()[0].score <= a.weakest_first()[-1].score


def test_snapshot_is_monthly_and_idempotent(records, unit_a):
    n = snapshot_take(month=dt.date(2026, 11, 15))
    assert snapshot_take(month=dt.date(2026, 11, 20)) == n
    row = ScorecardSnapshot.objects.get(business_unit=unit_a, month=dt.date(2026, 11, 1))
    assert row.scores["measurement"] == 50


def test_heatmap_for_pmo_and_own_unit_weakest_first_for_a_lead(
    client, records, pmo, lead_a, unit_a, unit_b
):
    client.force_login(pmo)
    cards = client.get(reverse("scorecard")).context["cards"]
    assert {c.unit_name for c in cards} == {unit_a.name, unit_b.name}
    client.force_login(lead_a)
    assert [c.unit_name for c in client.get(reverse("scorecard")).context["cards"]] == [unit_a.name]
    response = client.get(reverse("unit_scorecard", args=[unit_a.pk]))
    scores = [d.score for d in response.context["weakest_first"] if d.score is not None]
    assert scores == sorted(scores)
    assert client.get(reverse("unit_scorecard", args=[unit_b.pk])).status_code == 404


def test_scorecard_api_and_cross_unit_404(client, records, lead_a, unit_a, unit_b):
    client.force_login(lead_a)
    data = client.get(f"/api/v1/business-units/{unit_a.pk}/scorecard/").json()
    assert len(data["dimensions"]) == 8
    culture = next(d for d in data["dimensions"] if d["dimension"] == "culture_adoption")
    assert culture["parts"][0]["numerator"] == 1
    assert client.get(f"/api/v1/business-units/{unit_b.pk}/scorecard/").status_code == 404


def test_heatmap_query_count_is_flat(client, pmo):
    client.force_login(pmo)

    def count(n):
        for _ in range(n):
            unit = f.BusinessUnitFactory()
            f.InitiativeFactory(business_unit=unit)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("scorecard")).status_code == 200
        return len(ctx.captured_queries)

    assert count(2) == count(12)
