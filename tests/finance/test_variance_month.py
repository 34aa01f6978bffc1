"""The maintained variance figures (``VarianceMonth``) stay equal to the raw rows through
every write path: postings created, edited, moved, bulk-updated and deleted, budget lines
approved, amended and deleted, exchange rates added, changed and removed, the rollups
rebuilt, the reporting currency changed. The expected figures are computed here in
Python from the ledger, the budgets and the rates, not from the rollups."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal as D

import pytest
from django.db import connection
from django.db.models import F

from finance import rollups, selectors, variance
from finance.models import Budget, ExchangeRate, SpendEntry, VarianceMonth
from portfolio.db_roles import as_owner
from tests.factories import (
    BudgetFactory,
    ExchangeRateFactory,
    InitiativeFactory,
    SpendEntryFactory,
)

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 11, 24)


def _rate(currency, day):
    if currency == "USD":
        return D(1)
    rate = (
        ExchangeRate.objects.filter(currency=currency, valid_from__lte=day)
        .order_by("-valid_from")
        .values_list("rate", flat=True)
        .first()
    )
    return rate


def _months_after(month, n):
    y, m = divmod(month.year * 12 + month.month - 1 + n, 12)
    return dt.date(y, m + 1, 1)


def _expected():
    """{(initiative, month): (window spend, budget)} from the raw rows, zeros left out."""
    sums = defaultdict(lambda: [D(0), D(0)])
    for s in SpendEntry.objects.all():
        rate = _rate(s.currency, s.posted_on)
        if rate is None:
            continue
        for k in (1, 2, 3):
            sums[(s.initiative_id, _months_after(s.posted_on.replace(day=1), k))][0] += (
                s.amount * rate
            )
    for b in Budget.objects.filter(status=Budget.Status.APPROVED):
        rate = _rate(b.currency, dt.date(b.fiscal_year, 1, 1))
        if rate is None:
            continue
        for m in range(1, 13):
            sums[(b.initiative_id, dt.date(b.fiscal_year, m, 1))][1] += b.amount * rate
    return {k: tuple(v) for k, v in sums.items() if any(v)}


def _table():
    return {
        (r.initiative_id, r.month): (r.window_spend, r.budget)
        for r in VarianceMonth.objects.all()
        if r.window_spend or r.budget
    }


def _generated_columns_match_python():
    """``flag_rank`` (``over_pct``, Infinity with no budget) and the index's predicate (a
    run rate above zero) as ``finance.selectors`` computes them in Python."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT window_spend / 3, ROUND(budget, 2), flag_rank, "
            f"{variance.SPENDING} FROM finance_variancemonth"
        )
        for monthly, budget, rank, spending in cursor.fetchall():
            run_rate = selectors._q(monthly * 12)
            assert spending == (run_rate > 0)
            expected = selectors._q(100 * (run_rate - budget) / budget) if budget > 0 else None
            assert rank == (D("Infinity") if expected is None else expected)


def _exact():
    assert _table() == _expected()
    _generated_columns_match_python()


@pytest.fixture
def rates(db):
    ExchangeRateFactory(currency="EUR", valid_from=dt.date(2025, 1, 1), rate=D("1.05"))
    ExchangeRateFactory(currency="EUR", valid_from=dt.date(2026, 7, 1), rate=D("1.20"))


@pytest.fixture
def ledger(rates, unit_a, unit_b, finance):
    a = InitiativeFactory(code="VM-A", business_unit=unit_a)
    b = InitiativeFactory(code="VM-B", business_unit=unit_b)
    for initiative, day, amount, currency in [
        (a, dt.date(2026, 8, 3), "1000.00", "USD"),
        (a, dt.date(2026, 9, 13), "250.50", "EUR"),
        (a, dt.date(2026, 10, 1), "-100.00", "USD"),
        (a, dt.date(2026, 10, 9), "77.00", "GBP"),  # no rate: left out
        (b, dt.date(2025, 12, 30), "4000.00", "EUR"),
        (b, dt.date(2026, 2, 1), "123.45", "USD"),
    ]:
        SpendEntryFactory(initiative=initiative, posted_on=day, amount=D(amount), currency=currency)
    approved = {"status": Budget.Status.APPROVED, "approved_by": finance}
    BudgetFactory(initiative=a, amount=D("3000"), **approved)
    BudgetFactory(initiative=a, category="vendor", amount=D("999.99"), currency="EUR", **approved)
    BudgetFactory(initiative=b, amount=D("500"), fiscal_year=2025, **approved)
    BudgetFactory(initiative=b, category="data", amount=D("700"))  # requested: not counted
    return a, b


def test_the_table_is_exact_after_inserts(ledger):
    _exact()
    assert _table()  # not trivially equal


def test_posting_edits_moves_and_deletes_keep_it_exact(ledger):
    a, b = ledger
    entry = SpendEntry.objects.filter(initiative=a, currency="USD").first()
    entry.amount = D("1500.00")
    entry.save()
    _exact()
    entry.posted_on = dt.date(2026, 5, 5)  # another month: leaves three months, adds three
    entry.save()
    _exact()
    entry.initiative = b  # moved to another initiative (and unit)
    entry.business_unit = b.business_unit
    entry.save()
    _exact()
    entry.delete()
    _exact()


def test_bulk_writes_keep_it_exact(ledger):
    a, b = ledger
    SpendEntry.objects.bulk_create(
        SpendEntry(
            initiative=a,
            business_unit=a.business_unit,
            posted_on=dt.date(2026, 1 + i % 12, 1 + i % 27),
            kind="operational",
            category="compute",
            amount=D(i + 1),
            currency=["USD", "EUR", "GBP"][i % 3],
            vendor="v",
            source="erp",
            reference=f"BULK-{i}",
        )
        for i in range(60)
    )
    _exact()
    SpendEntry.objects.filter(currency="EUR").update(amount=F("amount") * 2)
    _exact()
    SpendEntry.objects.filter(posted_on__month__in=[8, 9]).delete()
    _exact()


def test_budget_approval_amendment_and_deletion_keep_it_exact(ledger, finance):
    a, b = ledger
    requested = Budget.objects.get(status=Budget.Status.REQUESTED)
    requested.status = Budget.Status.APPROVED
    requested.approved_by = finance
    requested.save()
    _exact()
    line = Budget.objects.get(initiative=a, currency="USD")
    line.amount = D("4200.50")
    line.save()
    _exact()
    Budget.objects.filter(initiative=a, currency="EUR").update(status=Budget.Status.SUPERSEDED)
    _exact()
    Budget.objects.filter(initiative=b).update(fiscal_year=F("fiscal_year") + 1)
    _exact()
    Budget.objects.filter(initiative=a).delete()
    _exact()


def test_rate_changes_keep_it_exact(ledger):
    ExchangeRateFactory(currency="EUR", valid_from=dt.date(2026, 1, 1), rate=D("1.10"))
    _exact()  # the 2026 EUR budget converts at 1.10 now, the 2026 EUR postings before July too
    ExchangeRateFactory(currency="GBP", valid_from=dt.date(2020, 1, 1), rate=D("1.25"))
    _exact()  # the GBP posting counts now
    ExchangeRate.objects.filter(currency="EUR").update(rate=F("rate") + D("0.01"))
    _exact()
    ExchangeRate.objects.filter(currency="EUR", valid_from=dt.date(2025, 1, 1)).delete()
    _exact()


def test_rebuilds_keep_it_exact(ledger):
    rollups.rebuild()
    _exact()
    rollups.rebuild(from_day=dt.date(2026, 9, 1), currencies=["EUR"])
    _exact()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE finance_variancemonth SET window_spend = 0, budget = 0")
    variance.rebuild()
    _exact()


@pytest.mark.django_db(transaction=True)
def test_a_changed_reporting_currency_re_sums_it(ledger):
    """After migrate (as the owner), a table built for another currency is re-summed."""

    def comment():
        with connection.cursor() as cursor:
            cursor.execute("SELECT obj_description('finance_variancemonth'::regclass, 'pg_class')")
            return cursor.fetchone()[0]

    try:
        with as_owner(), connection.cursor() as cursor:
            cursor.execute("COMMENT ON TABLE finance_variancemonth IS 'XXX'")
            cursor.execute("UPDATE finance_variancemonth SET budget = 0")
        with as_owner():
            variance.ensure_reporting_currency()
        _exact()
        assert comment() == "USD"
    finally:
        with as_owner():
            variance.mark_currency()


def test_flags_for_every_unit_read_the_table_and_a_lead_reads_live(ledger, finance, lead_a):
    """The read path: figures planted in the table show for the finance user (so the
    equality tests in test_variance_flags exercise the table) and not for a unit lead."""
    a, _ = ledger
    before = selectors.variance_flags(user=finance, as_of=AS_OF)
    assert [f.initiative_code for f in before] == ["VM-A"]
    VarianceMonth.objects.filter(initiative=a, month=AS_OF.replace(day=1)).update(
        window_spend=D("1")
    )
    assert selectors.variance_flags(user=finance, as_of=AS_OF) == []  # 4 a year: under budget
    assert [f.initiative_code for f in selectors.variance_flags(user=lead_a, as_of=AS_OF)] == [
        "VM-A"
    ]
