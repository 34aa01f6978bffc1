"""Issue 14, part 4: value realised from a business KPI follows its cadence and time, not
the number of measurement rows. The issue's example: one monthly measurement of 50 gave
USD 50,000 (ROI 4.71); the same level recorded on 10 days gave USD 500,000 (ROI 56.1).

Every elapsed cadence period from the first measurement to the period of ``as_of``
counts once, at the level of the latest measurement at or before it (carried forward)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone

from finance import selectors
from tests.factories import KPIFactory, MeasurementFactory, SpendEntryFactory

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 11, 24)


@pytest.fixture
def revenue_kpi(initiative_a):
    SpendEntryFactory(initiative=initiative_a, posted_on=dt.date(2026, 3, 1), amount=D("8756.57"))
    return KPIFactory(
        initiative=initiative_a,
        kind="business",
        cadence="monthly",
        baseline_value=D("0"),
        value_per_unit=D("1000"),
        value_currency="USD",
    )


def _value(user, initiative, as_of=AS_OF):
    [row] = selectors.initiative_value(user=user, as_of=as_of, initiative_ids=[initiative.pk])
    return row


def _business_kpi(initiative, cadence, per_unit="100"):
    return KPIFactory(
        initiative=initiative,
        kind="business",
        cadence=cadence,
        baseline_value=D("0"),
        value_per_unit=D(per_unit),
        value_currency="USD",
    )


def test_one_monthly_measurement_of_50_is_worth_50000(revenue_kpi, initiative_a, pmo):
    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 10, 31), value=D("50"))
    row = _value(pmo, initiative_a, as_of=dt.date(2026, 10, 31))
    assert (row.realised_value, row.roi) == (D("50000.00"), D("4.7100"))


def test_the_same_level_recorded_on_ten_days_is_still_worth_50000(revenue_kpi, initiative_a, pmo):
    for day in range(1, 11):
        MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 10, day), value=D("50"))
    row = _value(pmo, initiative_a, as_of=dt.date(2026, 10, 31))
    assert (row.realised_value, row.roi) == (D("50000.00"), D("4.7100"))


@pytest.mark.parametrize("days", [[31], list(range(1, 11))])
def test_once_or_ten_times_in_october_is_the_same_value_in_november(
    days, revenue_kpi, initiative_a, pmo
):
    for day in days:
        MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 10, day), value=D("50"))
    # October, then November carried forward at the same level.
    assert _value(pmo, initiative_a).realised_value == D("100000.00")


def test_each_period_counts_its_latest_measurement(revenue_kpi, initiative_a, pmo):
    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 9, 2), value=D("10"))
    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 9, 28), value=D("30"))
    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 10, 15), value=D("40"))
    # September at 30, October at 40, November (no measurement) still at 40.
    assert _value(pmo, initiative_a).realised_value == D("110000.00")


def test_months_without_a_measurement_carry_the_last_level(initiative_a, pmo):
    kpi = _business_kpi(initiative_a, "monthly")
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 1, 20), value=D("5"))
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 4, 3), value=D("8"))
    # January, February and March at January's 5; April at 8.
    assert _value(pmo, initiative_a, as_of=dt.date(2026, 4, 30)).realised_value == D("2300.00")
    # Up to and including the month of as_of, not beyond: May adds 8 more.
    assert _value(pmo, initiative_a, as_of=dt.date(2026, 5, 1)).realised_value == D("3100.00")
    # Before April's measurement, April carries March's level (January's).
    assert _value(pmo, initiative_a, as_of=dt.date(2026, 4, 2)).realised_value == D("2000.00")
    # Nothing before the first measurement.
    assert _value(pmo, initiative_a, as_of=dt.date(2025, 12, 31)).realised_value is None


def test_quarterly_kpi_counts_once_a_quarter(initiative_a, pmo):
    kpi = _business_kpi(initiative_a, "quarterly")
    for month in (7, 8, 9):
        MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, month, 1), value=D("5"))
    assert _value(pmo, initiative_a, as_of=dt.date(2026, 9, 30)).realised_value == D("500.00")
    # The fourth quarter (AS_OF is in it) carries the third quarter's level.
    assert _value(pmo, initiative_a).realised_value == D("1000.00")


def test_quarterly_kpi_carries_forward_into_unmeasured_quarters(initiative_a, pmo):
    kpi = _business_kpi(initiative_a, "quarterly")
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 2, 10), value=D("2"))
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 8, 10), value=D("6"))
    # Q1 2, Q2 2 (carried), Q3 6, Q4 6 (carried) = 16 levels x 100.
    row = _value(pmo, initiative_a)
    assert row.realised_value == D("1600.00")


def test_weekly_kpi_counts_every_elapsed_week(initiative_a, pmo):
    kpi = _business_kpi(initiative_a, "weekly", per_unit="10")
    # Monday 2 November and Wednesday 4 November: the same week, the latest (7) counts.
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 11, 2), value=D("3"))
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 11, 4), value=D("7"))
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 11, 16), value=D("1"))
    # Weeks of 2, 9 (carried), 16 and 23 (carried) November: 7 + 7 + 1 + 1.
    assert _value(pmo, initiative_a).realised_value == D("160.00")


def test_a_level_below_baseline_counts_negative_while_it_lasts(initiative_a, pmo):
    kpi = KPIFactory(
        initiative=initiative_a,
        kind="business",
        cadence="monthly",
        direction="decrease",
        baseline_value=D("10"),
        target_value=D("5"),
        value_per_unit=D("100"),
        value_currency="USD",
    )
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 9, 1), value=D("12"))  # worse
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 11, 1), value=D("7"))
    # September and October at -2, November at +3.
    assert _value(pmo, initiative_a).realised_value == D("-100.00")


def test_payback_month_uses_carried_value(revenue_kpi, initiative_a, pmo):
    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 3, 5), value=D("3"))
    # 3,000 a month against 8,756.57 spent in March: paid back in May, not "never".
    row = _value(pmo, initiative_a)
    assert row.payback_month == dt.date(2026, 5, 1)


def test_initiative_page_and_api_show_value_cost_roi(
    client, revenue_kpi, initiative_a, pmo, lead_b
):
    # Measured this month, so today's value is this one period, whatever today is.
    MeasurementFactory(kpi=revenue_kpi, measured_on=timezone.localdate(), value=D("50"))
    client.force_login(pmo)
    response = client.get(reverse("initiative_detail", args=[initiative_a.pk]))
    assert response.context["value"].realised_value == D("50000.00")
    assert b"Value to date" in response.content and b"Payback" in response.content
    data = client.get(f"/api/v1/initiatives/{initiative_a.pk}/").json()
    assert (data["value_to_date"], data["cost_to_date"], data["roi"]) == (
        "50000.00",
        "8756.57",
        "4.7100",
    )
    listed = client.get("/api/v1/initiatives/?code=AI-A-1").json()["results"][0]
    assert listed["value_to_date"] == "50000.00"
    client.force_login(lead_b)
    assert client.get(f"/api/v1/initiatives/{initiative_a.pk}/").status_code == 404


def test_gate_review_page_shows_outcomes(client, revenue_kpi, initiative_a, pmo):
    from tests.factories import AdoptionSnapshotFactory, GateReviewFactory

    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 10, 31), value=D("50"))
    revenue_kpi.target_value = D("100")
    revenue_kpi.target_date = dt.date(2027, 1, 1)
    revenue_kpi.save()
    AdoptionSnapshotFactory(initiative=initiative_a, eligible_users=200, active_users=120)
    review = GateReviewFactory(initiative=initiative_a)
    client.force_login(pmo)
    response = client.get(reverse("governance:gate_review_detail", args=[review.pk]))
    outcomes = response.context["outcomes"]
    [kpi] = [k for k in outcomes.kpis if k.pk == revenue_kpi.pk]
    assert kpi.progress == D("0.5")
    assert outcomes.value.realised_value is not None
    assert outcomes.adoption_rate == D("0.6")
    assert b"KPIs against target" in response.content and b"Spend trend" in response.content
