"""The home page by role, and the query budget of every portfolio list and dashboard page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import (
    AssignmentFactory,
    BudgetFactory,
    ControlFactory,
    IncidentFactory,
    InitiativeFactory,
    KPIFactory,
    MeasurementFactory,
    RiskAssessmentFactory,
    SpendEntryFactory,
    StageTransitionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

STAGES = ["proof_of_concept", "initial_production", "scaled_deployment", "institutional"]


def _rows(unit, count: int, start: int = 0) -> None:
    """``count`` initiatives with everything the dashboards show: owners, KPIs with and
    without measurements, spend, requested budgets, overdue reviews, incidents, kills."""
    long_ago = timezone.now() - dt.timedelta(days=400)
    # One person for every role: factory users hash a password each, which is slow.
    person = UserFactory(username="dashboard-person")
    for n in range(start, start + count):
        initiative = InitiativeFactory(
            code=f"AI-Q-{n:03d}",
            business_unit=unit,
            stage=STAGES[n % 4],
            risk_tier="high" if n % 2 else "limited",
            stage_entered_at=long_ago,
        )
        AssignmentFactory(initiative=initiative, role="requirements_owner", user=person)
        kpi = KPIFactory(initiative=initiative)
        MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 1, 1), value=Decimal(n))
        SpendEntryFactory(initiative=initiative, amount=Decimal("1000") + n)
        SpendEntryFactory(initiative=initiative, kind="one_time", posted_on=dt.date(2026, 3, 1))
        BudgetFactory(initiative=initiative, requested_by=person)
        RiskAssessmentFactory(initiative=initiative, next_review_due=dt.date(2026, 1, 1))
        IncidentFactory(initiative=initiative)
        if n % 5 == 0:
            StageTransitionFactory(
                initiative=initiative,
                decision="kill",
                to_stage="killed",
                decided_at=timezone.now(),
                decided_by=person,
            )


def _count(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx)


@pytest.fixture
def controls(db):
    ControlFactory(
        code="CTL-HIGH", applies_to_tiers=["high"], applies_from_stage="proof_of_concept"
    )


@pytest.mark.parametrize("who", ["lead_a", "pmo", "finance", "auditor"])
def test_home_query_count_is_the_same_with_5_and_50_initiatives(
    client, request, unit_a, unit_a_child, controls, who
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    _rows(unit_a, 5)
    small = _count(client, reverse("home"))
    _rows(unit_a_child, 45, start=5)
    assert _count(client, reverse("home")) == small


@pytest.mark.parametrize("params", [{}, {"sort": "-owner", "stage": "proof_of_concept", "q": "AI"}])
def test_initiative_list_query_count_is_the_same_with_5_and_50_rows(
    client, lead_a, unit_a, member_a, params
):
    client.force_login(lead_a)
    _rows(unit_a, 5)
    small = _count(client, reverse("initiative_list"), params)
    _rows(unit_a, 45, start=5)
    assert _count(client, reverse("initiative_list"), params) == small


def test_csv_export_query_count_is_the_same_with_5_and_50_rows(client, lead_a, unit_a):
    client.force_login(lead_a)

    def exported():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("initiative_export", args=["csv"]))
            lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
        return len(ctx), len(lines)

    _rows(unit_a, 5)
    small, lines = exported()
    assert lines == 6
    _rows(unit_a, 45, start=5)
    assert exported() == (small, 51)


@pytest.mark.parametrize(
    ("who", "template", "heading"),
    [
        ("pmo", "portfolio/home_pmo.html", b"Portfolio overview"),
        ("coe", "portfolio/home_pmo.html", b"Read-only view"),
        ("auditor", "portfolio/home_pmo.html", b"Read-only view"),
        ("finance", "portfolio/home_finance.html", b"AI spend and budgets"),
        ("lead_a", "portfolio/home_unit.html", b"Needs your action"),
        ("member_a", "portfolio/home_unit.html", b"My unit"),
        ("outsider", "portfolio/home_unit.html", b"My unit"),
    ],
)
def test_each_role_gets_its_home_page(client, request, who, template, heading):
    client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert template in [t.name for t in response.templates]
    assert heading in response.content


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_pmo_home_flags_stalled_pilots_and_governance_gaps(client, pmo, unit_a, controls):
    long_ago = timezone.now() - dt.timedelta(days=400)
    stalled = InitiativeFactory(code="AI-STUCK", business_unit=unit_a, stage_entered_at=long_ago)
    InitiativeFactory(code="AI-FRESH", business_unit=unit_a)
    gap = InitiativeFactory(
        code="AI-GAP", business_unit=unit_a, risk_tier="high", stage="initial_production"
    )
    client.force_login(pmo)
    response = client.get(reverse("home"))
    assert [i.code for i in response.context["stalled"]] == [stalled.code]
    assert [i.code for i in response.context["gaps"]] == [gap.code]
    assert response.context["gaps"][0].missing_controls == 1


def test_unit_lead_home_lists_only_own_units_actions(client, lead_a, unit_a, unit_b):
    _rows(unit_a, 2)
    _rows(unit_b, 2, start=10)
    client.force_login(lead_a)
    response = client.get(reverse("home"))
    ctx = response.context
    codes = {r.initiative.code for r in ctx["reviews"]} | {
        i.initiative.code for i in ctx["incidents"]
    }
    assert codes == {"AI-Q-000", "AI-Q-001"}
    assert {b.initiative.code for b in ctx["pending"]} == {"AI-Q-000", "AI-Q-001"}
    assert b"AI-Q-010" not in response.content


def test_finance_home_lists_the_largest_variance_flags_first_and_counts_them_all(
    client, finance, unit_a, unit_b, pmo
):
    """The finance home's flags are the first rows of every flag ordered largest overrun
    first (spending with no budget first), and its count is every flag's: the database
    pages them (``variance_flag_page``), the page builds only the rows it shows."""
    from finance.selectors import variance_flags
    from portfolio.views.home import ROWS

    today = timezone.localdate()
    month = today.replace(day=1)
    for n in range(ROWS + 4):
        initiative = InitiativeFactory(business_unit=unit_a if n % 2 else unit_b)
        if n % 3:
            BudgetFactory(
                initiative=initiative,
                fiscal_year=today.year,
                kind="operational",
                amount=Decimal("1000.00"),
                status="approved",
                approved_by=pmo,
            )
        for back in (1, 2, 3):
            posted = (month - dt.timedelta(days=28 * back)).replace(day=10)
            SpendEntryFactory(
                initiative=initiative,
                business_unit=initiative.business_unit,
                posted_on=posted,
                kind="operational",
                amount=Decimal("100.00") * (n + 1),
                currency="USD",
            )
    expected = sorted(
        variance_flags(user=finance, fiscal_year=today.year),
        key=lambda x: (x.over_pct is not None, -(x.over_pct or 0)),
    )
    assert len(expected) > ROWS
    client.force_login(finance)
    context = client.get("/").context
    assert context["flags_count"] == len(expected)
    assert [x.initiative_id for x in context["flags"]] == [x.initiative_id for x in expected[:ROWS]]
