"""Rollups against totals computed by hand, including mixed currencies and a missing rate.

The ledger (as of 2026-11-24, reporting currency USD; EUR 1.10 from 2026-01-01 and 1.20
from 2026-07-01; GBP has no rate):

initiative_a (unit_a)      budgets: one-time compute 100,000 USD; operational vendor 50,000 EUR
  2026-03-15 one-time compute   10,000 USD  ->  10,000
  2026-06-10 operational vendor  1,000 EUR  ->   1,100
  2026-08-05 operational vendor  1,000 EUR  ->   1,200
  2026-09-05 operational compute 3,000 USD  ->   3,000
  2026-10-05 operational compute   300 USD  ->     300
  2026-11-10 operational vendor    500 GBP  ->  (no rate: excluded and reported)
initiative_a_child (unit_a_child): no approved budget (a request for 5,000 waits)
  2026-10-01 operational compute 2,000 USD
initiative_b (unit_b)      budget: operational compute 10,000 USD
  2026-09-01 operational compute 4,000 USD; 2026-10-01 operational compute 4,000 USD
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from finance import selectors
from finance.models import Budget
from people.scoping import forget_scope
from tests.factories import (
    BudgetFactory,
    ExchangeRateFactory,
    KPIFactory,
    MeasurementFactory,
    SpendEntryFactory,
)

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 11, 24)


def _spend(initiative, on, kind, category, amount, currency="USD"):
    return SpendEntryFactory(
        initiative=initiative,
        posted_on=on,
        kind=kind,
        category=category,
        amount=D(amount),
        currency=currency,
    )


@pytest.fixture
def ledger(initiative_a, initiative_a_child, initiative_b, lead_a):
    ExchangeRateFactory(currency="EUR", valid_from=dt.date(2026, 1, 1), rate=D("1.10"))
    ExchangeRateFactory(currency="EUR", valid_from=dt.date(2026, 7, 1), rate=D("1.20"))
    approved = {"status": Budget.Status.APPROVED, "approved_by": lead_a, "fiscal_year": 2026}
    BudgetFactory(
        initiative=initiative_a, kind="one_time", category="compute", amount=D("100000"), **approved
    )
    BudgetFactory(
        initiative=initiative_a,
        kind="operational",
        category="vendor",
        amount=D("50000"),
        currency="EUR",
        **approved,
    )
    BudgetFactory(initiative=initiative_a_child, kind="operational", amount=D("5000"))
    BudgetFactory(
        initiative=initiative_b,
        kind="operational",
        category="compute",
        amount=D("10000"),
        **approved,
    )
    _spend(initiative_a, dt.date(2026, 3, 15), "one_time", "compute", "10000")
    _spend(initiative_a, dt.date(2026, 6, 10), "operational", "vendor", "1000", "EUR")
    _spend(initiative_a, dt.date(2026, 8, 5), "operational", "vendor", "1000", "EUR")
    _spend(initiative_a, dt.date(2026, 9, 5), "operational", "compute", "3000")
    _spend(initiative_a, dt.date(2026, 10, 5), "operational", "compute", "300")
    _spend(initiative_a, dt.date(2026, 11, 10), "operational", "vendor", "500", "GBP")
    _spend(initiative_a_child, dt.date(2026, 10, 1), "operational", "compute", "2000")
    _spend(initiative_b, dt.date(2026, 9, 1), "operational", "compute", "4000")
    _spend(initiative_b, dt.date(2026, 10, 1), "operational", "compute", "4000")


def _by_code(rows):
    return {r.initiative_code: r for r in rows}


def test_budget_vs_actual_per_initiative_matches_hand_totals(ledger, finance):
    rows = _by_code(selectors.budget_vs_actual(user=finance, group_by=["initiative"], as_of=AS_OF))
    a = rows["AI-A-1"]
    assert a.budget == D("155000.00")  # 100,000 USD + 50,000 EUR at 1.10
    assert a.actual == D("15600.00")  # the GBP posting has no rate and is left out
    assert a.missing_rates == ["GBP"]
    assert a.actual_one_time == D("10000.00")
    assert a.actual_operational == D("5600.00")
    assert a.variance == D("139400.00")
    assert a.run_rate_monthly == D("1500.00")  # Aug-Oct: 1,200 + 3,000 + 300
    assert a.run_rate == D("18000.00")
    assert a.forecast == D("17100.00")  # 15,600 + one more month (December) at 1,500
    assert a.operational_share == D("0.3590")
    child = rows["AI-A-2"]
    assert (child.budget, child.actual, child.missing_rates) == (D("0.00"), D("2000.00"), [])
    b = rows["AI-B-1"]
    assert (b.budget, b.actual, b.run_rate) == (D("10000.00"), D("8000.00"), D("32000.00"))
    assert b.variance_pct == D("-20.00")


def test_mixed_currencies_are_never_summed_as_one(ledger, finance):
    total = selectors.budget_totals(user=finance, as_of=AS_OF)
    # Naively adding the raw amounts would give 25,300; converted it is 25,600 (+ GBP missing).
    assert total.actual == D("25600.00")
    assert total.budget == D("165000.00")
    assert total.missing_rates == ["GBP"]


def test_unit_rollup_includes_child_units(ledger, finance, unit_a, unit_a_child, unit_b):
    rows = {
        r.unit_name: r
        for r in selectors.budget_vs_actual(user=finance, group_by=["unit"], as_of=AS_OF)
    }
    assert set(rows) == {unit_a.name, unit_b.name}
    assert rows[unit_a.name].actual == D("17600.00")
    assert rows[unit_a.name].budget == D("155000.00")
    assert rows[unit_b.name].actual == D("8000.00")


def test_unit_rollup_below_a_chosen_unit_splits_its_children(ledger, finance, unit_a, unit_a_child):
    rows = {
        r.unit_name: r.actual
        for r in selectors.budget_vs_actual(
            user=finance, group_by=["unit"], unit=unit_a, as_of=AS_OF
        )
    }
    assert rows == {unit_a.name: D("15600.00"), unit_a_child.name: D("2000.00")}


def test_group_by_kind_and_category(ledger, finance):
    rows = {
        (r.kind, r.category): r.actual
        for r in selectors.budget_vs_actual(
            user=finance, group_by=["kind", "category"], as_of=AS_OF
        )
    }
    assert rows == {
        ("one_time", "compute"): D("10000.00"),
        ("operational", "compute"): D("13300.00"),
        ("operational", "vendor"): D("2300.00"),
    }


def test_group_by_month_prorates_annual_budgets(ledger, finance, initiative_a):
    rows = {
        r.month: r
        for r in selectors.budget_vs_actual(
            user=finance, group_by=["month"], initiative=initiative_a, as_of=AS_OF
        )
    }
    assert len(rows) == 12
    march = rows[dt.date(2026, 3, 1)]
    assert march.actual == D("10000.00")
    assert march.budget == D("12916.67")  # 155,000 / 12
    assert rows[dt.date(2026, 12, 1)].actual == D("0.00")


@pytest.mark.parametrize(
    "groups", [["month"], ["unit", "month"], ["initiative", "month"], ["kind", "category", "month"]]
)
def test_budgets_spread_by_month_sum_to_the_annual_budgets_of_each_group(ledger, finance, groups):
    """By month the budget lines are summed before they are spread (#15): every group's
    twelve months still add up to its annual budget, to the cent."""
    others = [g for g in groups if g != "month"]
    annual = {
        tuple(getattr(r, f"{g}_id" if g in ("unit", "initiative") else g) for g in others): r.budget
        for r in selectors.budget_vs_actual(user=finance, group_by=others, as_of=AS_OF)
    }
    spread: dict = {}
    for r in selectors.budget_vs_actual(user=finance, group_by=groups, as_of=AS_OF):
        key = tuple(getattr(r, f"{g}_id" if g in ("unit", "initiative") else g) for g in others)
        spread[key] = spread.get(key, D("0")) + r.budget
    budgeted = {k for k, v in annual.items() if v}
    assert budgeted and budgeted == {k for k, v in spread.items() if v}
    for key in budgeted:  # twelve months each rounded to the cent
        assert abs(spread[key] - annual[key]) <= D("0.06"), (key, spread[key], annual[key])


def test_group_by_fiscal_year_shows_every_year(ledger, finance, initiative_b):
    _spend(initiative_b, dt.date(2025, 5, 1), "one_time", "data", "700")
    rows = {
        r.fiscal_year: r.actual
        for r in selectors.budget_vs_actual(user=finance, group_by=["fiscal_year"], as_of=AS_OF)
    }
    assert rows == {2025: D("700.00"), 2026: D("25600.00")}


def test_operational_share_by_month(ledger, finance):
    months = {m.month: m for m in selectors.operational_share_by_month(user=finance, as_of=AS_OF)}
    assert months[dt.date(2026, 3, 1)].operational_share == D("0.0000")
    assert months[dt.date(2026, 10, 1)].operational == D("6300.00")
    assert months[dt.date(2026, 10, 1)].operational_share == D("1.0000")
    assert months[dt.date(2026, 11, 1)].missing_rates == ["GBP"]


def test_unit_lead_never_sees_other_units_money(ledger, lead_b, lead_a):
    codes_b = {r.initiative_code for r in selectors.budget_vs_actual(user=lead_b, as_of=AS_OF)}
    assert codes_b == {"AI-B-1"}
    assert selectors.budget_totals(user=lead_b, as_of=AS_OF).actual == D("8000.00")
    codes_a = {r.initiative_code for r in selectors.budget_vs_actual(user=lead_a, as_of=AS_OF)}
    assert codes_a == {"AI-A-1", "AI-A-2"}
    assert {r.code for r in selectors.initiative_value(user=lead_b, as_of=AS_OF)} == {"AI-B-1"}
    assert {f.initiative_code for f in selectors.variance_flags(user=lead_b, as_of=AS_OF)} == {
        "AI-B-1"
    }


def test_outsider_sees_no_money(ledger, outsider):
    assert selectors.budget_vs_actual(user=outsider, as_of=AS_OF) == []
    assert selectors.initiative_value(user=outsider, as_of=AS_OF) == []


def test_auditor_and_pmo_see_all_units(ledger, auditor, pmo):
    for user in (auditor, pmo):
        assert selectors.budget_totals(user=user, as_of=AS_OF).actual == D("25600.00")


def test_variance_flags_use_the_configured_percentage(ledger, finance, settings):
    flags = {f.initiative_code: f for f in selectors.variance_flags(user=finance, as_of=AS_OF)}
    assert set(flags) == {"AI-B-1", "AI-A-2"}
    assert flags["AI-B-1"].over_pct == D("220.00")  # 32,000 a year against 10,000
    assert flags["AI-A-2"].over_pct is None  # spending without an approved budget
    settings.FINANCE_VARIANCE_ALERT_PCT = 250
    assert {f.initiative_code for f in selectors.variance_flags(user=finance, as_of=AS_OF)} == {
        "AI-A-2"
    }
    everyone = selectors.variance_flags(user=selectors.ALL_UNITS, as_of=AS_OF, threshold_pct=10)
    assert {f.initiative_code for f in everyone} == {"AI-B-1", "AI-A-2"}


@pytest.fixture
def kpis(ledger, initiative_a, initiative_a_child, initiative_b):
    handling = KPIFactory(
        initiative=initiative_a,
        direction="decrease",
        baseline_value=D("100"),
        target_value=D("50"),
        value_per_unit=D("10"),
        value_currency="EUR",
    )
    MeasurementFactory(kpi=handling, measured_on=dt.date(2026, 4, 15), value=D("80"))
    MeasurementFactory(kpi=handling, measured_on=dt.date(2026, 9, 15), value=D("70"))
    MeasurementFactory(kpi=handling, measured_on=dt.date(2026, 12, 15), value=D("0"))  # future
    revenue = KPIFactory(
        initiative=initiative_b,
        baseline_value=D("0"),
        value_per_unit=D("5000"),
        value_currency="USD",
    )
    MeasurementFactory(kpi=revenue, measured_on=dt.date(2026, 9, 20), value=D("1"))
    MeasurementFactory(kpi=revenue, measured_on=dt.date(2026, 10, 20), value=D("1"))
    accuracy = KPIFactory(
        initiative=initiative_a_child,
        kind="technical",
        value_per_unit=D("1"),
        value_currency="USD",
    )
    MeasurementFactory(kpi=accuracy, measured_on=dt.date(2026, 10, 2), value=D("99"))


def test_initiative_value_roi_and_payback(kpis, finance):
    rows = {r.code: r for r in selectors.initiative_value(user=finance, as_of=AS_OF)}
    a = rows["AI-A-1"]
    # Carried forward: April to August at 20 fewer minutes x 10 EUR x 1.10 (the rate of
    # 15 April), September to November at 30 x 10 EUR x 1.20 = 1,100 + 1,080.
    assert a.realised_value == D("2180.00")
    assert a.total_cost == D("15600.00")
    assert (a.one_time_cost, a.operational_cost) == (D("10000.00"), D("5600.00"))
    assert a.roi == D("-0.8603")
    assert a.payback_month is None
    assert a.missing_rates == ["GBP"]
    b = rows["AI-B-1"]
    assert (b.realised_value, b.total_cost, b.roi) == (D("15000.00"), D("8000.00"), D("0.8750"))
    assert b.payback_month == dt.date(2026, 9, 1)  # 5,000 of value against 4,000 spent
    child = rows["AI-A-2"]  # only a technical KPI: value is not measured, not zero
    assert child.realised_value is None and child.roi is None and not child.measured
    assert child.total_cost == D("2000.00")


def test_unit_value_rolls_children_up(kpis, finance, unit_a, unit_b):
    rows = {r.name: r for r in selectors.unit_value(user=finance, as_of=AS_OF)}
    assert rows[unit_a.name].total_cost == D("17600.00")
    assert rows[unit_a.name].realised_value == D("2180.00")
    assert rows[unit_b.name].payback_month == dt.date(2026, 9, 1)


def test_unit_value_for_a_unit_lead_starts_at_their_unit(kpis, lead_a, unit_a):
    rows = selectors.unit_value(user=lead_a, as_of=AS_OF)
    assert [(r.name, r.total_cost) for r in rows] == [(unit_a.name, D("17600.00"))]


@pytest.mark.parametrize(
    "call",
    [
        lambda u: selectors.budget_vs_actual(user=u, group_by=["unit", "kind"], as_of=AS_OF),
        lambda u: selectors.initiative_value(user=u, as_of=AS_OF),
        lambda u: selectors.unit_value(user=u, as_of=AS_OF),
        lambda u: selectors.variance_flags(user=u, as_of=AS_OF),
    ],
)
def test_selector_query_count_does_not_grow_with_rows(call, lead_a, initiative_a):
    def count(n):
        for i in range(n):
            _spend(initiative_a, dt.date(2026, 1 + i % 11, 1), "operational", "data", str(i + 1))
        forget_scope(lead_a)  # both runs pay for the scope lookup
        with CaptureQueriesContext(connection) as ctx:
            call(lead_a)
        return len(ctx.captured_queries)

    assert count(5) == count(45)
