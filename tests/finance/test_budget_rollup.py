"""The maintained budget rollup (``BudgetUnitYear``, finance/budget_rollup.py) equals the
approved budget lines summed after every kind of write: the services (request, approve,
reject, amend: the amended line is superseded), the web form and the API, bulk updates
and deletes, a move of the initiative to another unit. The finance dashboards that read it
give the same figures as the lines."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from finance import budget_rollup, selectors, services
from finance.models import Budget, BudgetUnitYear
from portfolio.services import initiative_move
from tests.factories import BudgetFactory

pytestmark = pytest.mark.django_db

FROM_LINES = """
SELECT business_unit_id, fiscal_year, kind, category, currency, SUM(amount), COUNT(*)
FROM finance_budget WHERE status = 'approved'
GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"""
FROM_ROLLUP = """
SELECT business_unit_id, fiscal_year, kind, category, currency, amount, lines
FROM finance_budgetunityear ORDER BY 1, 2, 3, 4, 5"""


def _rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def assert_rollup_matches_lines() -> None:
    assert _rows(FROM_ROLLUP) == _rows(FROM_LINES)


def _request(user, initiative, amount="1000.00", **kw):
    values = {
        "fiscal_year": 2026,
        "kind": "operational",
        "category": "compute",
        "currency": "USD",
    } | kw
    return services.budget_request(
        acting_user=user, initiative=initiative, amount=D(amount), **values
    )


def test_services_keep_the_rollup_exact(initiative_a, initiative_b, lead_a, lead_b, finance):
    a = _request(lead_a, initiative_a)
    assert_rollup_matches_lines()
    assert not BudgetUnitYear.objects.exists()  # requested lines are not counted
    services.budget_approve(acting_user=finance, budget=a)
    assert_rollup_matches_lines()
    assert BudgetUnitYear.objects.get().amount == D("1000.00")
    b = _request(lead_a, initiative_a, "250.00", kind="one_time", currency="EUR")
    services.budget_reject(acting_user=finance, budget=b, note="Not this year.")
    c = _request(lead_b, initiative_b, "70.00")
    services.budget_approve(acting_user=finance, budget=c)
    assert_rollup_matches_lines()
    a.refresh_from_db()
    amendment = services.budget_amend(
        acting_user=lead_a, budget=a, amount=D("1500.00"), justification="More users."
    )
    assert_rollup_matches_lines()
    services.budget_approve(acting_user=finance, budget=amendment)  # supersedes ``a``
    assert_rollup_matches_lines()
    assert BudgetUnitYear.objects.get(business_unit=initiative_a.business_unit).amount == D(
        "1500.00"
    )


def test_the_form_and_the_api_keep_the_rollup_exact(client, initiative_a, lead_a, finance):
    client.force_login(lead_a)
    response = client.post(
        reverse("finance:budget_request"),
        {
            "initiative": initiative_a.pk,
            "fiscal_year": 2026,
            "kind": "operational",
            "category": "compute",
            "amount": "300.00",
            "currency": "USD",
            "justification": "Inference.",
        },
    )
    assert response.status_code == 302, response.content
    api = APIClient()
    api.force_authenticate(lead_a)
    created = api.post(
        reverse("v1:budget-list"),
        {
            "initiative": initiative_a.pk,
            "fiscal_year": 2027,
            "kind": "one_time",
            "category": "compute",
            "amount": "5000.00",
            "currency": "USD",
        },
        format="json",
    )
    assert created.status_code == 201
    api.force_authenticate(finance)
    for budget in Budget.objects.all():
        assert api.post(reverse("v1:budget-approve", args=[budget.pk])).status_code == 200
    assert_rollup_matches_lines()
    assert BudgetUnitYear.objects.count() == 2


def test_bulk_writes_and_moves_keep_the_rollup_exact(initiative_a, initiative_b, unit_b, pmo):
    for year in (2025, 2026):
        for kind, category in (("operational", "compute"), ("one_time", "vendor")):
            for initiative in (initiative_a, initiative_b):
                BudgetFactory(
                    initiative=initiative,
                    fiscal_year=year,
                    kind=kind,
                    category=category,
                    status="approved",
                    approved_by=pmo,
                )
    assert_rollup_matches_lines()
    Budget.objects.filter(fiscal_year=2025).update(amount=D("12.34"))
    assert_rollup_matches_lines()
    Budget.objects.filter(kind="one_time", fiscal_year=2026).update(currency="EUR")
    assert_rollup_matches_lines()
    initiative_move(acting_user=pmo, initiative=initiative_a, business_unit=unit_b)
    assert_rollup_matches_lines()
    assert set(BudgetUnitYear.objects.values_list("business_unit", flat=True)) == {unit_b.pk}
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM finance_budget WHERE fiscal_year = 2025")
    assert_rollup_matches_lines()
    before = _rows(FROM_ROLLUP)
    budget_rollup.rebuild()
    assert _rows(FROM_ROLLUP) == before


def test_dashboards_from_the_rollup_equal_the_lines(
    initiative_a, initiative_a_child, initiative_b, unit_a, pmo, lead_a
):
    for i, initiative in enumerate((initiative_a, initiative_a_child, initiative_b)):
        for kind, category in (("operational", "compute"), ("one_time", "vendor")):
            BudgetFactory(
                initiative=initiative,
                kind=kind,
                category=category,
                amount=D("1000.00") * (i + 1),
                currency="EUR" if i == 2 else "USD",
                status="approved",
                approved_by=pmo,
            )
    # By initiative the lines are read; by unit, kind and category, the rollup: the
    # totals agree for every grouping and scope.
    for user in (pmo, lead_a):
        by_initiative = selectors.budget_vs_actual(
            user=user, group_by=("initiative",), fiscal_year=2026
        )
        expected = sum((r.budget for r in by_initiative), D(0))
        for group_by in (("unit",), ("kind",), ("category",), (), ("unit", "month")):
            rows = selectors.budget_vs_actual(user=user, group_by=group_by, fiscal_year=2026)
            assert sum((r.budget for r in rows), D(0)) == expected, (user, group_by)
        expected_missing = sorted({c for r in by_initiative for c in r.missing_rates})
        total = selectors.budget_totals(user=user, fiscal_year=2026)
        assert total.budget == expected and total.missing_rates == expected_missing
    # The lead of unit A sees unit A and its child only (no EUR line: that is unit B's).
    assert selectors.budget_totals(user=lead_a, fiscal_year=2026).budget == D("6000.00")
    rows = selectors.budget_vs_actual(user=lead_a, group_by=("unit",), unit=unit_a)
    assert {r.unit_id for r in rows} == {unit_a.pk, initiative_a_child.business_unit_id}
