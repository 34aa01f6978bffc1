"""End to end in a real Chromium: each role's home page, a unit lead's day, exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portfolio.models import Initiative, Measurement
from tests.factories import (
    InitiativeFactory,
    KPIFactory,
    MeasurementFactory,
    SpendEntryFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def portfolio(unit_a, unit_a_child, unit_b, initiative_a, initiative_a_child, initiative_b):
    """A small portfolio with spend and a measured KPI, so charts have something to draw."""
    for n, stage in enumerate(["initial_production", "scaled_deployment", "proof_of_concept"]):
        InitiativeFactory(
            code=f"AI-A-1{n}", name=f"Retail use case {n}", business_unit=unit_a, stage=stage
        )
    for month in range(1, 11):
        SpendEntryFactory(
            initiative=initiative_a, posted_on=dt.date(2026, month, 5), kind="one_time"
        )
        SpendEntryFactory(initiative=initiative_b, posted_on=dt.date(2026, month, 5))
    kpi = KPIFactory(initiative=initiative_a, name="Claims handled per day", unit="claims")
    for month in range(6, 11):
        MeasurementFactory(
            kpi=kpi, measured_on=dt.date(2026, month, 1), value=Decimal(100 + 40 * month)
        )
    return kpi


ROLE_HOMES = [
    ("pmo", "Portfolio overview"),
    ("finance", "AI spend and budgets"),
    ("lead_a", "My unit's AI portfolio"),
    ("coe", "Portfolio overview"),
    ("auditor", "Portfolio overview"),
]


def test_each_role_signs_in_and_sees_its_home_page(request, portfolio, page, sign_in, screenshot):
    # One test for every role: each browser test pays for a database flush.
    for who, heading in ROLE_HOMES:
        user = request.getfixturevalue(who)
        sign_in(user)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        # Chart.js loaded from static/vendor and drew on the canvases.
        page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length > 0")
        screenshot(f"home-{who}")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/accounts/login/**")
    assert page.console_errors == []


def test_unit_lead_creates_an_initiative_records_a_measurement_and_cannot_open_another_units(
    portfolio, lead_a, initiative_a, initiative_b, unit_a, sign_in, screenshot
):
    page = sign_in(lead_a)
    page.get_by_role("link", name="Initiatives", exact=True).click()
    page.get_by_role("link", name="New initiative").click()
    page.get_by_label("Code").fill("AI-E2E-1")
    page.get_by_label("Name", exact=False).first.fill("Invoice matching assistant")
    page.get_by_label("Business unit").select_option(label="Retail Banking")
    page.get_by_label("Summary").fill("Matches supplier invoices to purchase orders.")
    page.get_by_role("button", name="Create initiative").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoice matching assistant")
    expect(page.get_by_text("Initiative AI-E2E-1 created.")).to_be_visible()
    assert Initiative.objects.filter(code="AI-E2E-1", business_unit=unit_a).exists()

    # Record a KPI measurement on an initiative with a KPI.
    page.goto(f"/initiatives/{initiative_a.pk}/?tab=outcomes")
    page.get_by_label("KPI").select_option(str(portfolio.pk))
    page.get_by_label("Measured on").fill("2026-11-02")
    page.get_by_label("Value").fill("575")
    page.get_by_label("Note").fill("November count")
    page.get_by_role("button", name="Record measurement").click()
    expect(page.get_by_text("Recorded 575 for Claims handled per day")).to_be_visible()
    page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length > 0")
    screenshot("initiative-outcomes")
    assert Measurement.objects.get(kpi=portfolio, measured_on=dt.date(2026, 11, 2)).value == 575

    # Another unit's initiative, by URL: not found, in plain words.
    response = page.goto(f"/initiatives/{initiative_b.pk}/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("We could not find that page")


def test_create_form_shows_field_errors_next_to_the_fields(lead_a, unit_a, initiative_a, sign_in):
    page = sign_in(lead_a)
    page.goto("/initiatives/new/")
    page.get_by_label("Code").fill(initiative_a.code)
    page.get_by_role("button", name="Create initiative").click()
    expect(page.get_by_text("This code is already used by another initiative.")).to_be_visible()
    expect(page.get_by_label("Code")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Code")).to_be_focused()  # focus moves to the first error
    expect(page.get_by_label("Business unit")).to_have_attribute("aria-invalid", "true")


def test_export_downloads_a_csv_with_the_filtered_rows_of_own_units_only(
    portfolio, lead_a, sign_in
):
    page = sign_in(lead_a)
    page.goto("/initiatives/")
    page.get_by_label("Stage").select_option("proof_of_concept")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("cell", name="AI-A-12")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0][:2] == ["Code", "Name"]
    assert sorted(r[0] for r in rows[1:]) == ["AI-A-1", "AI-A-12", "AI-A-2"]


def test_initiative_tabs_work_from_the_keyboard(portfolio, lead_a, initiative_a, sign_in):
    page = sign_in(lead_a)
    page.goto(f"/initiatives/{initiative_a.pk}/")
    page.get_by_role("link", name="Stage history").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Stage history")).to_be_visible()
    expect(page.get_by_role("link", name="Stage history")).to_have_attribute("aria-current", "page")


def _url_exists(name: str, **kwargs) -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return False
    return True


def test_pmo_advances_an_initiative_through_a_gate_and_the_history_shows_it(
    lead_a, pmo, initiative_a, sign_in, page
):
    if not _url_exists("governance:gate", initiative_pk=1):
        pytest.skip("The governance stage-gate pages are not installed.")
    page = sign_in(lead_a)
    page.goto(f"/initiatives/{initiative_a.pk}/")
    page.get_by_role("link", name="Request a gate review").click()
    page.get_by_role("button", name="Request the gate review").click()
    expect(page.get_by_text("Gate review requested")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    sign_in(pmo)
    page.goto(f"/initiatives/{initiative_a.pk}/")
    page.get_by_role("link", name="Record a gate decision").click()
    page.get_by_label("Decision").select_option("advance")
    page.get_by_label("Rationale").fill("Pilot cut triage time by 40% for three months running.")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_text("Decision recorded.")).to_be_visible()

    initiative_a.refresh_from_db()
    assert initiative_a.stage == "initial_production"
    page.goto(f"/initiatives/{initiative_a.pk}/?tab=stages")
    expect(
        page.get_by_text("Pilot cut triage time by 40% for three months running.")
    ).to_be_visible()
    page.goto(f"/initiatives/{initiative_a.pk}/?tab=history")
    history = page.get_by_role("table")
    expect(history).to_contain_text(re.compile("stage transition", re.IGNORECASE))
    expect(history).to_contain_text("Initial production")


def test_finance_approves_a_budget(finance, lead_a, initiative_a, sign_in):
    if not _url_exists("finance:budget_approve", pk=1):
        pytest.skip("The finance budget pages are not installed.")
    from finance.models import Budget
    from tests.factories import BudgetFactory

    budget = BudgetFactory(initiative=initiative_a, requested_by=lead_a, amount=Decimal("250000"))
    page = sign_in(finance)
    page.goto(f"/finance/budgets/{budget.pk}/")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Approved").first).to_be_visible()
    budget.refresh_from_db()
    assert budget.status == Budget.Status.APPROVED and budget.approved_by == finance
    page.goto(f"/initiatives/{initiative_a.pk}/?tab=money")
    expect(page.get_by_role("table", name="Budget lines of this initiative")).to_contain_text(
        "USD 250,000"
    )
