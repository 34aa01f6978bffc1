"""End to end in a real Chromium (issue 14): the PMO reads the flow page and searches the
graveyard for a lesson; a unit lead sees their unit's scorecard and an overdue stall
decision with its deadline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from governance.models import GateReview
from governance.services import gate_review_open_for_stall
from portfolio.models import StagePolicy
from tests.factories import InitiativeFactory, StageTransitionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def flow_story(unit_a, unit_b, pmo):
    now = timezone.now()
    started = (now - dt.timedelta(days=700)).date()
    converted = InitiativeFactory(
        code="AI-UP",
        business_unit=unit_a,
        stage="initial_production",
        started_on=started,
        stage_entered_at=now - dt.timedelta(days=600),
    )
    StageTransitionFactory(
        initiative=converted,
        decision="advance",
        from_stage="proof_of_concept",
        to_stage="initial_production",
        decided_at=now - dt.timedelta(days=600),
        decided_by=pmo,
    )
    killed = InitiativeFactory(
        code="AI-DEAD",
        business_unit=unit_b,
        stage="killed",
        status="closed",
        started_on=started,
        stage_entered_at=now - dt.timedelta(days=500),
    )
    StageTransitionFactory(
        initiative=killed,
        decision="kill",
        from_stage="proof_of_concept",
        to_stage="killed",
        decided_at=now - dt.timedelta(days=500),
        decided_by=pmo,
        rationale="Latency made it unusable in the call flow.",
        lessons="Test against the real workflow's latency budget in week one.",
        sunk_cost=Decimal("120000"),
        sunk_cost_currency="EUR",
    )
    StagePolicy.objects.create(
        stage="proof_of_concept", limit_days=100, inactivity_days=90, decision_days=20
    )
    stuck = InitiativeFactory(
        code="AI-STUCK",
        business_unit=unit_a,
        stage="proof_of_concept",
        started_on=started,
        stage_entered_at=now - dt.timedelta(days=300),
    )
    review = gate_review_open_for_stall(acting_user=pmo, initiative=stuck)
    due = timezone.localdate() - dt.timedelta(days=9)
    GateReview.objects.filter(pk=review.pk).update(decision_due_on=due)
    return due


def test_pmo_reads_the_flow_and_searches_the_graveyard(flow_story, pmo, page, sign_in):
    sign_in(pmo)
    page.goto("/analytics/flow/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Portfolio flow")
    # A cohort conversion rate and a time-in-stage median.
    expect(page.get_by_test_id("pilot-conversion")).to_contain_text("33.3%")
    cohort = page.get_by_test_id("cohort-table")
    expect(cohort).to_contain_text("33%")  # 1 of the 3 pilots in production within 12 months
    time_table = page.get_by_test_id("time-table")
    expect(time_table.locator("tr", has_text="Proof of concept")).to_contain_text("150")
    assert not page.console_errors, page.console_errors
    # The graveyard: a lesson found by searching for it.
    page.get_by_label("Search reasons, lessons, salvage").fill("latency budget")
    page.get_by_role("button", name="Search").click()
    graves = page.get_by_test_id("graveyard-table")
    expect(graves).to_contain_text("AI-DEAD")
    expect(graves).to_contain_text("EUR 120,000")
    page.get_by_label("Search reasons, lessons, salvage").fill("blockchain")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Nothing found")).to_be_visible()


def test_unit_lead_sees_scorecard_and_overdue_stall_decision(
    flow_story, lead_a, unit_a, page, sign_in
):
    sign_in(lead_a)
    deadline = flow_story.strftime("%-d %b %Y")
    due = page.get_by_test_id("unit-decision-due")
    expect(due).to_have_text(deadline)
    row = page.locator("tr", has=page.get_by_test_id("unit-decision-due"))
    expect(row).to_contain_text("AI-STUCK")
    expect(row).to_contain_text("overdue")
    page.goto(f"/people/units/{unit_a.pk}/scorecard/")
    card = page.get_by_test_id("unit-scorecard")
    expect(card).to_contain_text("Strategic alignment")
    expect(card.locator("details").first).to_have_attribute("open", "")
    page.goto("/analytics/scorecard/")
    expect(page.get_by_test_id("heatmap")).to_contain_text(unit_a.name)
    assert not page.console_errors, page.console_errors
