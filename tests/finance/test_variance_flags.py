"""Variance flags computed in the database equal the old definition on varied data.

The old definition (kept below as ``_reference``): every per-initiative row of
``budget_vs_actual`` built in Python, then flagged when its annualised run rate exceeds
the approved budget by more than the threshold (``over_pct`` rounded half to even by
``Decimal.quantize``), or when it spends with no approved budget. ``variance_flags`` and
``variance_flag_page`` now flag, count, order and page in SQL; these tests hold them to
the reference for overspend, underspend, credits, months in and out of the trailing
window (across a year end), currencies with and without rates, rounding ties, and each
role's scope, and the finance index page to a query count that does not grow with flags.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal as D

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from finance import selectors
from finance.models import Budget
from people.scoping import forget_scope
from tests.factories import (
    BudgetFactory,
    ExchangeRateFactory,
    InitiativeFactory,
    SpendEntryFactory,
)

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 11, 24)


def _reference(*, user, fiscal_year=None, threshold_pct=None, as_of=None):
    """The definition before the flags moved into SQL, verbatim."""
    threshold = D(settings.FINANCE_VARIANCE_ALERT_PCT if threshold_pct is None else threshold_pct)
    rows = selectors.budget_vs_actual(
        user=user, group_by=("initiative",), fiscal_year=fiscal_year, as_of=as_of
    )
    flags = []
    for r in rows:
        if r.run_rate <= 0:
            continue
        if r.budget <= 0:
            over = None
        else:
            over = selectors._q(100 * (r.run_rate - r.budget) / r.budget)
            if over <= threshold:
                continue
        flags.append(
            selectors.VarianceFlag(
                initiative_id=r.initiative_id,
                initiative_code=r.initiative_code,
                initiative_name=r.initiative_name,
                business_unit_id=r.initiative_unit_id,
                fiscal_year=r.fiscal_year,
                budget=r.budget,
                run_rate=r.run_rate,
                over_pct=over,
                currency=r.currency,
                missing_rates=r.missing_rates,
            )
        )
    return flags


def _page_order(flags):
    """The finance index's order: no budget first, then the largest overrun, then code."""
    return sorted(
        flags, key=lambda f: (f.over_pct is not None, -(f.over_pct or 0), f.initiative_code)
    )


def _same(a, b):
    # repr compares the Decimals' exponents too (220.00 is not 220), as a page shows them.
    assert [repr(f) for f in a] == [repr(f) for f in b]


def _approved(initiative, amount, currency="USD", *, approver, year=2026, category="compute"):
    return BudgetFactory(
        initiative=initiative,
        amount=D(amount),
        currency=currency,
        fiscal_year=year,
        category=category,
        kind="operational",
        status=Budget.Status.APPROVED,
        approved_by=approver,
    )


def _spend(initiative, on, amount, currency="USD", kind="operational"):
    return SpendEntryFactory(
        initiative=initiative, posted_on=on, amount=D(amount), currency=currency, kind=kind
    )


@pytest.fixture
def rates(db):
    ExchangeRateFactory(currency="EUR", valid_from=dt.date(2025, 1, 1), rate=D("1.05"))
    ExchangeRateFactory(currency="EUR", valid_from=dt.date(2026, 1, 1), rate=D("1.10"))
    ExchangeRateFactory(currency="EUR", valid_from=dt.date(2026, 9, 1), rate=D("1.20"))
    # A rate that makes half-cent ties: 1.00 CHF is 1.00125 USD, a run rate of 4.005.
    ExchangeRateFactory(currency="CHF", valid_from=dt.date(2025, 1, 1), rate=D("1.00125"))
    # GBP has no rate at all; JPY only from 2026-10-01 (earlier postings have none).
    ExchangeRateFactory(currency="JPY", valid_from=dt.date(2026, 10, 1), rate=D("0.0067"))


@pytest.fixture
def book(rates, unit_a, unit_a_child, unit_b, finance):
    """Forty initiatives over three units with random ledgers and budgets (seeded)."""
    rng = random.Random(15)
    units = [unit_a, unit_a_child, unit_b]
    currencies = ["USD", "USD", "USD", "EUR", "CHF", "GBP", "JPY"]
    months = [dt.date(2025, m, 1) for m in range(9, 13)] + [
        dt.date(2026, m, 1) for m in range(1, 13)
    ]
    for n in range(40):
        initiative = InitiativeFactory(code=f"BK-{n:03d}", business_unit=units[n % 3])
        for _ in range(rng.randint(0, 8)):
            month = rng.choice(months)
            amount = D(rng.randint(-2000, 60000)) / 4 or D("1")  # credits too
            _spend(
                initiative,
                month.replace(day=rng.randint(1, 28)),
                amount,
                rng.choice(currencies),
                rng.choice(["operational", "one_time"]),
            )
        for year in (2025, 2026):
            for category in rng.sample(["compute", "vendor", "data"], rng.randint(0, 2)):
                status = rng.choice(["approved", "approved", "requested", "rejected"])
                BudgetFactory(
                    initiative=initiative,
                    fiscal_year=year,
                    kind="operational",
                    category=category,
                    amount=D(rng.randint(1, 80000)),
                    currency=rng.choice(currencies),
                    status=status,
                    approved_by=finance if status == "approved" else None,
                )


@pytest.fixture
def ties(rates, unit_a, unit_b, finance):
    """Hand-made rounding ties, where ``ROUND`` (half away from zero) and
    ``Decimal.quantize`` (half to even) disagree."""
    # Run rate 880.04 against 800.00: over by exactly 10.005 % -> 10.00, not flagged at 10.
    tie = InitiativeFactory(code="TIE-1", business_unit=unit_a)
    _approved(tie, "800.00", approver=finance)
    _spend(tie, dt.date(2026, 9, 3), "220.01")
    # 10.015 % -> 10.02: flagged either way.
    up = InitiativeFactory(code="TIE-2", business_unit=unit_a)
    _approved(up, "800.00", approver=finance)
    _spend(up, dt.date(2026, 10, 3), "220.03")
    # A run rate of 4 x 1.00125 = 4.005 -> 4.00 (ROUND says 4.01) with no budget.
    chf = InitiativeFactory(code="TIE-3", business_unit=unit_b)
    _spend(chf, dt.date(2026, 8, 3), "1.00", "CHF")
    # The same overrun as TIE-2 on another code: order falls back to the code.
    same = InitiativeFactory(code="TIE-0", business_unit=unit_b)
    _approved(same, "800.00", approver=finance)
    _spend(same, dt.date(2026, 8, 13), "220.03")


CASES = [
    {"as_of": AS_OF},
    {"as_of": AS_OF, "threshold_pct": 0},
    {"as_of": AS_OF, "threshold_pct": 10},
    {"as_of": AS_OF, "threshold_pct": 150},
    {"as_of": AS_OF, "threshold_pct": -50},
    {"as_of": AS_OF, "fiscal_year": 2025},
    {"as_of": dt.date(2026, 2, 10)},  # the trailing window is Nov 2025 - Jan 2026
    {"as_of": dt.date(2026, 1, 31), "fiscal_year": 2026},
    {"as_of": dt.date(2026, 10, 15)},  # JPY gains a rate inside the window's month
    {"as_of": dt.date(2026, 12, 31), "threshold_pct": D("12.5")},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_flags_equal_the_old_definition(book, ties, case, finance, pmo, lead_a, lead_b, outsider):
    for user in (finance, pmo, lead_a, lead_b, outsider, selectors.ALL_UNITS):
        expected = _reference(user=user, **case)
        _same(selectors.variance_flags(user=user, **case), expected)
        ordered = _page_order(expected)
        for number in (1, 2, 3):
            page = selectors.variance_flag_page(user=user, page=number, per_page=7, **case)
            assert page.count == len(expected)
            assert page.number == min(number, max(1, -(-len(expected) // 7)))
            _same(page.flags, ordered[(page.number - 1) * 7 : page.number * 7])


def test_the_book_has_every_kind_of_flag(book, ties, finance):
    """The comparison above is only as good as its data: it flags with and without a
    budget, leaves out under-spenders and credits, and reports missing rates."""
    flags = _reference(user=finance, as_of=AS_OF)
    assert any(f.over_pct is None for f in flags)
    assert any(f.over_pct is not None for f in flags)
    assert any(f.missing_rates for f in flags)
    assert len(flags) < len(selectors.budget_vs_actual(user=finance, as_of=AS_OF))


def test_rounding_ties_round_half_to_even(ties, finance):
    flags = {f.initiative_code: f for f in selectors.variance_flags(user=finance, as_of=AS_OF)}
    assert "TIE-1" not in flags  # 10.005 % is 10.00 %, not over 10
    assert flags["TIE-2"].over_pct == D("10.02")
    assert (flags["TIE-3"].run_rate, flags["TIE-3"].over_pct) == (D("4.00"), None)
    page = selectors.variance_flag_page(user=finance, page=1, per_page=25, as_of=AS_OF)
    assert [f.initiative_code for f in page.flags] == ["TIE-3", "TIE-0", "TIE-2"]


def test_unit_leads_see_only_their_units_flags(book, ties, lead_a, lead_b, unit_a, unit_b):
    from people.models import BusinessUnit

    a_units = set(BusinessUnit.objects.filter(pk=unit_a.pk).values_list("pk", flat=True))
    a_units |= set(BusinessUnit.objects.filter(parent=unit_a).values_list("pk", flat=True))
    flags_a = selectors.variance_flags(user=lead_a, as_of=AS_OF)
    flags_b = selectors.variance_flags(user=lead_b, as_of=AS_OF)
    assert flags_a and flags_b
    assert {f.business_unit_id for f in flags_a} <= a_units
    assert {f.business_unit_id for f in flags_b} == {unit_b.pk}
    page_b = selectors.variance_flag_page(user=lead_b, page=1, per_page=100, as_of=AS_OF)
    assert {f.initiative_code for f in page_b.flags} == {f.initiative_code for f in flags_b}


def test_page_numbers_are_read_like_django_get_page(ties, finance):
    def number(page):
        return selectors.variance_flag_page(user=finance, page=page, per_page=2, as_of=AS_OF).number

    assert [number(p) for p in (None, "1", "2", "junk", "2.0", 0, -3, 99)] == [
        1,
        1,
        2,
        1,
        1,
        2,
        2,
        2,
    ]


def test_no_flags_gives_one_empty_page(outsider):
    page = selectors.variance_flag_page(user=outsider, page=4, per_page=25, as_of=AS_OF)
    assert (page.flags, page.count, page.number) == ([], 0, 1)


def test_missing_rates_are_reported_on_the_page_rows(rates, unit_a, finance):
    initiative = InitiativeFactory(code="GBP-1", business_unit=unit_a)
    _approved(initiative, "100.00", "EUR", approver=finance)
    _approved(initiative, "100.00", "GBP", approver=finance, category="vendor")
    _spend(initiative, dt.date(2026, 9, 3), "5000.00")
    _spend(initiative, dt.date(2026, 3, 3), "10.00", "GBP")
    [flag] = selectors.variance_flag_page(user=finance, page=1, per_page=25, as_of=AS_OF).flags
    assert flag.missing_rates == ["GBP"]
    assert flag.budget == D("110.00")  # the EUR line at the rate of 1 January
    _same([flag], _reference(user=finance, as_of=AS_OF))


# --- The finance index page ---------------------------------------------------------------


def _flagged_initiatives(n, unit, approver, prefix):
    """``n`` initiatives each spending 1,000 a month in the trailing window against a
    budget of 100 x their number: all flagged, the first the most over."""
    today = timezone.localdate()
    last_month = today.replace(day=1) - dt.timedelta(days=1)
    for i in range(n):
        initiative = InitiativeFactory(code=f"{prefix}-{i:03d}", business_unit=unit)
        _approved(initiative, str(100 * (i + 1)), approver=approver, year=today.year)
        _spend(initiative, last_month.replace(day=1), "1000.00")


def test_finance_index_shows_the_largest_overrun_first_and_pages(client, finance, unit_a):
    _flagged_initiatives(30, unit_a, finance, "IX")
    client.force_login(finance)
    body = client.get(reverse("finance:index")).content.decode()
    assert body.index("IX-000") < body.index("IX-001") < body.index("IX-024")
    assert "IX-025" not in body
    assert 'data-total="30"' in body
    second = client.get(reverse("finance:index"), {"page": 2}).content.decode()
    assert "IX-025" in second and "IX-029" in second and "IX-000 " not in second
    last = client.get(reverse("finance:index"), {"page": 99}).content.decode()
    assert "IX-029" in last  # out of range: the last page, as everywhere else


def test_finance_index_flags_are_the_old_definitions_in_its_order(client, book, ties, finance):
    # The index reads today's fiscal year and date; the book's dates are fixed, so compare
    # the page with the reference for today, whatever it flags.
    expected = _page_order(_reference(user=finance, fiscal_year=timezone.localdate().year))
    client.force_login(finance)
    page = client.get(reverse("finance:index")).context["flags"]
    _same(list(page), expected[:25])
    assert page.paginator.count == len(expected)


def test_finance_index_for_a_unit_lead_shows_only_their_units(
    client, lead_b, unit_a, unit_b, finance
):
    _flagged_initiatives(3, unit_a, finance, "AA")
    _flagged_initiatives(2, unit_b, finance, "BB")
    client.force_login(lead_b)
    body = client.get(reverse("finance:index")).content.decode()
    assert "BB-000" in body and "BB-001" in body and "AA-00" not in body
    assert 'data-total="2"' in body
    # The other unit's initiative behind a flag is out of the lead's scope: 404.
    other = InitiativeFactory._meta.model.objects.get(code="AA-000")
    assert client.get(reverse("initiative_detail", args=[other.pk])).status_code == 404


@pytest.mark.parametrize("who", ["finance", "lead_a"])
def test_finance_index_query_count_does_not_grow_with_flags(client, unit_a, finance, who, request):
    user = request.getfixturevalue(who)
    client.force_login(user)

    def count(n, prefix):
        _flagged_initiatives(n, unit_a, finance, prefix)
        forget_scope(user)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("finance:index"))
        assert response.status_code == 200
        assert len(response.context["flags"]) == min(25, total[0] + n)
        total[0] += n
        return len(ctx.captured_queries)

    total = [0]
    assert count(3, "QA") == count(40, "QB")
