"""Initiative exports ready for analysis: labels not codes, real dates and numbers, money,
risk tier, days in stage and owners; an XLSX with a frozen header, filters, widths and
number formats; every text cell neutralised; a flat query count."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from portfolio.models import Assignment
from tests import factories as f

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture
def analysed(unit_a_child, lead_a):
    """One initiative with owners, spend of both kinds, an approved budget and value."""
    initiative = f.InitiativeFactory(
        code="AI-X-1",
        name="-1+2 cmd|calc",
        business_unit=unit_a_child,
        stage="initial_production",
        risk_tier="high",
        stage_entered_at=timezone.now() - dt.timedelta(days=40),
    )
    owner = f.UserFactory(first_name="Olga", last_name="Owner")
    f.AssignmentFactory(initiative=initiative, role=Assignment.Role.REQUIREMENTS_OWNER, user=owner)
    f.AssignmentFactory(
        initiative=initiative,
        role=Assignment.Role.ACCOUNTABLE_EXECUTIVE,
        user=f.UserFactory(first_name="Eve", last_name="Exec"),
    )
    f.SpendEntryFactory(
        initiative=initiative, kind="one_time", amount=Decimal("1000"), posted_on=TODAY
    )
    f.SpendEntryFactory(
        initiative=initiative, kind="operational", amount=Decimal("500"), posted_on=TODAY
    )
    f.BudgetFactory(
        initiative=initiative,
        fiscal_year=TODAY.year,
        amount=Decimal("20000"),
        status="approved",
        approved_by=f.UserFactory(),
    )
    kpi = f.KPIFactory(
        initiative=initiative,
        baseline_value=Decimal("0"),
        value_per_unit=Decimal("10"),
        value_currency="USD",
    )
    f.MeasurementFactory(kpi=kpi, value=Decimal("300"), measured_on=TODAY)
    return initiative


def _csv(client, **params):
    response = client.get(reverse("initiative_export", args=["csv"]), params)
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_csv_export_has_labels_dates_days_owners_and_money(client, lead_a, analysed):
    client.force_login(lead_a)
    (row,) = _csv(client)
    assert row["Stage"] == "Initial production"
    assert row["Status"] == "Active"
    assert row["Risk tier"] == "High"
    assert row["Business unit"] == "Cards" and row["Parent unit"] == "Retail Banking"
    assert row["Requirements owner"] == "Olga Owner"
    assert row["Accountable executive"] == "Eve Exec"
    assert row["Days in stage"] == "40"
    assert row["In stage since"] == (TODAY - dt.timedelta(days=40)).isoformat()
    assert Decimal(row["Spend to date, one-time (USD)"]) == Decimal("1000")
    assert Decimal(row["Spend to date, operational (USD)"]) == Decimal("500")
    assert Decimal(row["Spend to date, total (USD)"]) == Decimal("1500")
    assert Decimal(row["Approved budget this year (USD)"]) == Decimal("20000")
    assert Decimal(row["Value realised to date (USD)"]) == Decimal("3000")
    assert Decimal(row["ROI"]) == Decimal("1")  # (3,000 - 1,500) / 1,500
    assert row["Name"] == "'-1+2 cmd|calc"  # neutralised


def test_xlsx_export_is_ready_for_analysis(client, lead_a, analysed):
    client.force_login(lead_a)
    response = client.get(reverse("initiative_export", args=["xlsx"]))
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}2"
    assert all(c.font.bold for c in sheet[1])
    assert sheet.column_dimensions["B"].width >= 30
    row = dict(zip(header, sheet[2], strict=True))
    assert row["Stage"].value == "Initial production"
    assert row["Name"].value == "'-1+2 cmd|calc"
    assert isinstance(row["In stage since"].value, dt.datetime)  # a real date cell
    assert row["In stage since"].number_format == "yyyy-mm-dd"
    assert row["Days in stage"].value == 40
    money = row["Spend to date, total (USD)"]
    assert money.value == 1500 and money.number_format.startswith("#,##0")
    assert row["ROI"].value == 1 and row["ROI"].number_format == "0.0%"


def test_export_query_count_is_flat_in_the_rows(client, lead_a, unit_a):
    client.force_login(lead_a)

    def queries(fmt):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("initiative_export", args=[fmt]))
            if fmt == "csv":
                b"".join(response.streaming_content)
        return len(ctx)

    for n in range(3):
        f.SpendEntryFactory(initiative=f.InitiativeFactory(business_unit=unit_a, code=f"S-{n}"))
    small = queries("csv"), queries("xlsx")
    for n in range(30):
        initiative = f.InitiativeFactory(business_unit=unit_a, code=f"L-{n}")
        f.SpendEntryFactory(initiative=initiative)
        f.AssignmentFactory(initiative=initiative)
    assert (queries("csv"), queries("xlsx")) == small


def test_export_money_never_counts_another_units_spend(client, lead_b, analysed, unit_b):
    f.InitiativeFactory(business_unit=unit_b, code="B-1")
    client.force_login(lead_b)
    rows = _csv(client)
    assert [r["Code"] for r in rows] == ["B-1"]
    assert rows[0]["Spend to date, total (USD)"] in ("", "0.00", "0")
