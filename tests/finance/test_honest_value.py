"""Issue 14, part 4: value realised from a business KPI follows its cadence and time, not
the number of measurement rows. The issue's example: one monthly measurement of 50 gave
USD 50,000 (ROI 4.71); the same level recorded on 10 days gave USD 500,000 (ROI 56.1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.urls import reverse

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


def _value(user, initiative):
    [row] = selectors.initiative_value(user=user, as_of=AS_OF, initiative_ids=[initiative.pk])
    return row


def test_one_monthly_measurement_of_50_is_worth_50000(revenue_kpi, initiative_a, pmo):
    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 10, 31), value=D("50"))
    row = _value(pmo, initiative_a)
    assert (row.realised_value, row.roi) == (D("50000.00"), D("4.7100"))


def test_the_same_level_recorded_on_ten_days_is_still_worth_50000(revenue_kpi, initiative_a, pmo):
    for day in range(1, 11):
        MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 10, day), value=D("50"))
    row = _value(pmo, initiative_a)
    assert (row.realised_value, row.roi) == (D("50000.00"), D("4.7100"))


def test_each_period_counts_its_latest_measurement(revenue_kpi, initiative_a, pmo):
    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 9, 2), value=D("10"))
    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 9, 28), value=D("30"))
    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 10, 15), value=D("40"))
    assert _value(pmo, initiative_a).realised_value == D("70000.00")  # 30 + 40 levels


def test_quarterly_kpi_counts_once_a_quarter(initiative_a, pmo):
    kpi = KPIFactory(
        initiative=initiative_a,
        kind="business",
        cadence="quarterly",
        baseline_value=D("0"),
        value_per_unit=D("100"),
        value_currency="USD",
    )
    for month in (7, 8, 9):
        MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, month, 1), value=D("5"))
    assert _value(pmo, initiative_a).realised_value == D("500.00")


def test_initiative_page_and_api_show_value_cost_roi(
    client, revenue_kpi, initiative_a, pmo, lead_b
):
    MeasurementFactory(kpi=revenue_kpi, measured_on=dt.date(2026, 10, 31), value=D("50"))
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
