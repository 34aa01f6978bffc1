"""One value figure everywhere: the initiative page, the gate review page, the PMO home,
the units pages, the export, the initiative API (detail and list) and the value rollup
endpoint all show what ``finance.selectors.initiative_value`` / ``unit_value`` compute
(the honest value rule, carried forward), and the pages that show value keep a query
count that does not grow with the number of KPIs and measurements."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from finance import selectors
from tests.factories import (
    GateReviewFactory,
    InitiativeFactory,
    KPIFactory,
    MeasurementFactory,
    SpendEntryFactory,
)

pytestmark = pytest.mark.django_db


def _months_ago(n: int) -> dt.date:
    day = timezone.localdate().replace(day=1)
    for _ in range(n):
        day = (day - dt.timedelta(days=1)).replace(day=1)
    return day


def _measured(initiative, level_then="4", level_now="6"):
    kpi = KPIFactory(
        initiative=initiative,
        kind="business",
        cadence="monthly",
        baseline_value=D("1"),
        value_per_unit=D("250"),
        value_currency="USD",
    )
    MeasurementFactory(kpi=kpi, measured_on=_months_ago(3), value=D(level_then))
    MeasurementFactory(kpi=kpi, measured_on=timezone.localdate(), value=D(level_now))
    return kpi


@pytest.fixture
def measured(initiative_a):
    SpendEntryFactory(initiative=initiative_a, posted_on=_months_ago(2), amount=D("1000.00"))
    _measured(initiative_a)
    return initiative_a


def test_the_api_the_export_and_the_pages_show_the_same_value(client, measured, pmo, unit_a):
    # Three months ago, two carried months and this month: 3 x (4 - 1) x 250 + (6 - 1) x 250.
    expected = D("3500.00")
    [row] = selectors.initiative_value(user=pmo, initiative_ids=[measured.pk])
    assert (row.realised_value, row.total_cost, row.roi) == (expected, D("1000.00"), D("2.5000"))
    client.force_login(pmo)

    page = client.get(reverse("initiative_detail", args=[measured.pk]))
    assert page.context["value"].realised_value == expected
    outcomes = client.get(reverse("initiative_detail", args=[measured.pk]), {"tab": "outcomes"})
    assert outcomes.status_code == 200
    review = GateReviewFactory(initiative=measured)
    gate = client.get(reverse("governance:gate_review_detail", args=[review.pk]))
    assert gate.context["outcomes"].value.realised_value == expected

    detail = client.get(f"/api/v1/initiatives/{measured.pk}/").json()
    assert (D(detail["value_to_date"]), D(detail["roi"])) == (expected, D("2.5"))
    listed = client.get("/api/v1/initiatives/", {"code": measured.code}).json()["results"]
    assert D(listed[0]["value_to_date"]) == expected
    rollup = client.get("/api/v1/rollups/value/", {"by": "initiative"}).json()
    assert [D(r["realised_value"]) for r in rollup if r["key_id"] == measured.pk] == [expected]

    response = client.get(reverse("initiative_export", args=["csv"]))
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(body)))
    [exported] = [dict(zip(lines[0], r, strict=True)) for r in lines[1:]]
    value_column = next(c for c in lines[0] if c.startswith("Value realised"))
    assert D(exported[value_column]) == expected
    assert D(exported["ROI"]) == D("2.5")

    home = client.get(reverse("home"))
    [unit_row] = [u for u in home.context["unit_values"] if u.key_id == unit_a.pk]
    assert unit_row.realised_value == expected
    units = client.get(reverse("unit_list"))
    assert units.status_code == 200
    unit_values = {v.key_id: v for v in selectors.unit_value(user=pmo)}
    assert unit_values[unit_a.pk].realised_value == expected


def test_a_unit_lead_sees_only_their_units_value(measured, initiative_b, lead_a, lead_b):
    _measured(initiative_b, "2", "2")
    a = {r.key_id: r.realised_value for r in selectors.initiative_value(user=lead_a)}
    b = {r.key_id: r.realised_value for r in selectors.initiative_value(user=lead_b)}
    assert a == {measured.pk: D("3500.00")}
    assert b == {initiative_b.pk: D("1000.00")}  # 4 months x (2 - 1) x 250
    assert [r.realised_value for r in selectors.unit_value(user=lead_b)] == [D("1000.00")]


def _count(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx)


@pytest.mark.parametrize(
    "page,budget",
    [
        ("home", 23),
        ("initiative_detail", 21),
        ("initiative_outcomes", 22),
        ("gate_review", 28),
        ("unit_list", 8),
        ("unit_detail", 14),
    ],
)
def test_pages_that_show_value_have_a_flat_query_count(
    client, measured, lead_a, unit_a, page, budget
):
    review = GateReviewFactory(initiative=measured)
    urls = {
        "home": (reverse("home"), None),
        "initiative_detail": (reverse("initiative_detail", args=[measured.pk]), None),
        "initiative_outcomes": (
            reverse("initiative_detail", args=[measured.pk]),
            {"tab": "outcomes"},
        ),
        "gate_review": (reverse("governance:gate_review_detail", args=[review.pk]), None),
        "unit_list": (reverse("unit_list"), None),
        "unit_detail": (reverse("unit_detail", args=[unit_a.pk]), None),
    }
    url, params = urls[page]
    client.force_login(lead_a)
    _count(client, url, params)  # warm per-process caches
    few = _count(client, url, params)
    for _ in range(8):
        other = InitiativeFactory(business_unit=unit_a)
        _measured(other)
        _measured(measured)
    many = _count(client, url, params)
    assert many == few
    assert many <= budget
