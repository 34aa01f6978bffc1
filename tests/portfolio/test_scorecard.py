"""Issue 14, part 5: the scaling scorecard per unit over the eight dimensions, computed
from the records with its parts, a monthly snapshot, the heatmap, the API, scoped."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

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
    # Financial model: operational share of the production initiatives' spend over the
    # last 12 months (the pilot's spend and spend older than 12 months do not count).
    today = timezone.localdate()
    for initiative, kind, amount, days_ago in (
        (prod, "operational", "300.00", 20),
        (prod, "one_time", "100.00", 40),
        (prod, "one_time", "5000.00", 400),
        (pilot, "operational", "9000.00", 20),
    ):
        f.SpendEntryFactory(
            initiative=initiative,
            kind=kind,
            category="compute" if kind == "operational" else "strategic_investment",
            amount=Decimal(amount),
            posted_on=today - dt.timedelta(days=days_ago),
        )
    # Infrastructure records: the production initiative's model version serves production
    # and was revalidated within its retraining interval, but nothing operational is
    # measured (not monitored).
    system = f.AISystemFactory(initiative=prod)
    f.ModelVersionFactory(
        ai_system=system,
        status="production",
        approved_by=lead_a,
        retrain_interval_days=90,
        last_validated_at=timezone.now() - dt.timedelta(days=30),
    )
    # Security and governance records: controls that apply (a high-tier one from initial
    # production, an all-tier one from proof of concept), one attested; the pilot has a
    # current risk assessment, the production one none.
    prod.risk_tier = "high"
    prod.save()
    high = f.ControlFactory(applies_to_tiers=["high"], applies_from_stage="initial_production")
    every = f.ControlFactory(applies_from_stage="proof_of_concept")
    f.ControlFactory(applies_to_tiers=["high"], applies_from_stage="scaled_deployment")
    f.ControlFactory(source="other-inventory", applies_from_stage="proof_of_concept")
    f.ControlAttestationFactory(initiative=prod, control=high)
    f.ControlAttestationFactory(  # expired: not attested any more
        initiative=pilot, control=every, expires_on=today - dt.timedelta(days=1)
    )
    infra_standard = f.StandardFactory(dimension="infrastructure")
    f.ControlFactory(standard=infra_standard, applies_from_stage="proof_of_concept")
    f.RiskAssessmentFactory(initiative=pilot)
    return pilot, prod


def test_scores_come_from_the_records_with_their_parts(records, unit_a, unit_b):
    a, b = scorecards([unit_a.pk, unit_b.pk])
    s = a.as_scores()
    assert s["strategic_alignment"] == 50  # 1 of 2 active initiatives
    assert s["measurement"] == 50
    assert s["organisational_structure"] == 50
    # 300 operational of 400 spent by the production initiative in the last 12 months.
    assert s["financial_model"] == 75
    financial = next(d for d in a.dimensions if d.dimension == "financial_model")
    assert [(p.numerator, p.denominator, p.currency) for p in financial.parts] == [
        (300, 400, "USD")
    ]
    assert s["integration_depth"] == 67  # embedded: 2 of 3 points
    infra = next(d for d in a.dimensions if d.dimension == "infrastructure")
    assert [(p.numerator, p.denominator) for p in infra.parts] == [
        (1, 1),  # a model version in production
        (1, 1),  # revalidated within its retraining interval
        (0, 1),  # no operational KPI measured
        (0, 2),  # the infrastructure control, required of both, attested by neither
        (1, 2),  # gate criteria
    ]
    assert s["infrastructure"] == 50  # mean of 100, 100, 0, 0, 50
    security = next(d for d in a.dimensions if d.dimension == "security_governance")
    assert [(p.numerator, p.denominator) for p in security.parts] == [
        (1, 3),  # required: high (prod), every (prod, pilot); the pilot's has expired
        (1, 2),  # the pilot's risk assessment is current
        (1, 1),  # gate criteria
    ]
    assert s["security_governance"] == 61  # mean of 33, 50, 100
    # Training beside adoption: 1 of 2 members trained (50), 60 of 100 users active (60).
    culture = next(d for d in a.dimensions if d.dimension == "culture_adoption")
    assert culture.score == 55
    assert [(p.numerator, p.denominator) for p in culture.parts] == [(1, 2), (60, 100)]
    assert b.as_scores()["strategic_alignment"] == 0
    # Unit B's pilot: nothing in production, no gate review; the all-tier control from
    # proof of concept is required of it and not attested.
    assert b.as_scores()["infrastructure"] == 0  # the infrastructure control
    assert b.as_scores()["financial_model"] is None  # no production spend to judge
    assert b.as_scores()["security_governance"] == 0
    assert a.weakest_first()[0].score <= a.weakest_first()[-1].score


def test_snapshot_is_monthly_and_idempotent(records, unit_a):
    n = snapshot_take(month=dt.date(2026, 11, 15))
    assert snapshot_take(month=dt.date(2026, 11, 20)) == n
    row = ScorecardSnapshot.objects.get(business_unit=unit_a, month=dt.date(2026, 11, 1))
    assert row.scores["measurement"] == 50
    assert (row.scores["financial_model"], row.scores["security_governance"]) == (75, 61)


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


def test_unit_scorecard_page_shows_what_each_score_is_made_of(
    client, records, lead_a, unit_a, django_assert_max_num_queries
):
    client.force_login(lead_a)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("unit_scorecard", args=[unit_a.pk]))
    body = response.content.decode()
    assert "Operational share of the production initiatives&#x27; spend" in body
    assert "USD 300 of USD 400" in body
    assert "Controls required of active initiatives that are attested" in body
    assert "model version in production" in body
    data = client.get(f"/api/v1/business-units/{unit_a.pk}/scorecard/").json()
    financial = next(d for d in data["dimensions"] if d["dimension"] == "financial_model")
    assert financial["parts"][0] | {"url": ""} == {
        "label": "Operational share of the production initiatives' spend, last 12 months",
        "numerator": 300,
        "denominator": 400,
        "share": "0.7500",
        "url": "",
        "currency": "USD",
    }


def test_unit_scorecard_query_count_is_flat_in_the_records(client, records, lead_a, unit_a):
    client.force_login(lead_a)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("unit_scorecard", args=[unit_a.pk])).status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for _ in range(10):
        initiative = f.InitiativeFactory(
            business_unit=unit_a, stage="initial_production", risk_tier="high"
        )
        f.SpendEntryFactory(initiative=initiative)
        f.ControlAttestationFactory(initiative=initiative)
    assert count() == before


def test_a_model_overdue_for_revalidation_is_not_retrained_on_schedule(records, unit_a):
    from governance.models import ModelVersion

    ModelVersion.objects.filter(status="production").update(
        last_validated_at=timezone.now() - dt.timedelta(days=91)
    )
    [card] = scorecards([unit_a.pk])
    infra = next(d for d in card.dimensions if d.dimension == "infrastructure")
    assert (infra.parts[1].numerator, infra.parts[1].denominator) == (0, 1)
    assert infra.score == 30  # mean of 100, 0, 0, 0, 50


def test_monitored_follows_the_latest_operational_measurement(records, unit_a):
    """Monitored: an operational KPI of the production initiative measured in the last 60
    days (read from ``KPI.last_measured_on``, which the measurements' triggers keep): a
    recent measurement counts, an old one does not, deleting the recent one undoes it."""
    _, prod = records
    today = timezone.localdate()

    def monitored():
        [card] = scorecards([unit_a.pk])
        infra = next(d for d in card.dimensions if d.dimension == "infrastructure")
        part = next(p for p in infra.parts if "monitored" in p.label)
        return part.numerator, part.denominator

    assert monitored() == (0, 1)
    uptime = f.KPIFactory(initiative=prod, kind="operational", value_per_unit=None)
    f.MeasurementFactory(kpi=uptime, measured_on=today - dt.timedelta(days=70))
    assert monitored() == (0, 1)
    recent = f.MeasurementFactory(kpi=uptime, measured_on=today - dt.timedelta(days=10))
    assert monitored() == (1, 1)
    recent.delete()
    assert monitored() == (0, 1)
