"""The maintained value rollup (finance.value_rollup: segments per KPI period, steps per
unit) stays equal to what the KPI periods are worth after exchange-rate and KPI changes,
and the units pages that read it give the same figures as their initiatives' values
summed, today, as of a past day, and with a measurement dated after ``as_of``.

Writes of measurements through every path (service, form, API, bulk and raw SQL,
updates, deletes, KPI edits, moves) are covered by tests/portfolio/test_value_rollup.py,
whose check compares these tables too."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from finance import selectors, value_rollup
from finance.models import ExchangeRate, ValueSegment, ValueUnitMissing, ValueUnitStep
from portfolio.models import KPI
from tests.factories import KPIFactory, MeasurementFactory, SpendEntryFactory
from tests.portfolio.test_value_rollup import (
    STORED_SEGMENTS,
    _rows,
    assert_rollup_matches_measurements,
)

pytestmark = pytest.mark.django_db

STEPS = """SELECT business_unit_id, cadence, at, amount, starts FROM finance_valueunitstep
ORDER BY 1, 2, 3"""


def _kpi(initiative, **kw):
    values = {
        "initiative": initiative,
        "kind": "business",
        "cadence": "monthly",
        "baseline_value": D("0"),
        "value_per_unit": D("10"),
        "value_currency": "USD",
    } | kw
    return KPIFactory(**values)


def _measure(kpi, *days_and_values):
    for day, value in days_and_values:
        MeasurementFactory(kpi=kpi, measured_on=day, value=D(value))


def test_exchange_rate_changes_reprice_the_segments(initiative_a, pmo):
    kpi = _kpi(initiative_a, value_currency="EUR")
    _measure(kpi, (dt.date(2026, 1, 10), "2"), (dt.date(2026, 3, 10), "3"))
    # No EUR rate yet: the periods count as measured, without money, and say which
    # currency is missing.
    assert_rollup_matches_measurements()
    assert ValueSegment.objects.filter(amount__isnull=True).count() == 2
    assert ValueUnitMissing.objects.get().segments == 2
    [row] = selectors.unit_value(user=pmo, as_of=dt.date(2026, 3, 31))
    assert row.realised_value == D("0.00") and row.missing_rates == ["EUR"]

    ExchangeRate.objects.create(currency="EUR", valid_from=dt.date(2026, 1, 1), rate="1.5")
    assert_rollup_matches_measurements()
    assert not ValueUnitMissing.objects.exists()
    # Jan 2 x 10 x 1.5 = 30, Feb carried 30, Mar 3 x 10 x 1.5 = 45.
    [row] = selectors.unit_value(user=pmo, as_of=dt.date(2026, 3, 31))
    assert row.realised_value == D("105.00") and row.missing_rates == []

    ExchangeRate.objects.create(currency="EUR", valid_from=dt.date(2026, 3, 1), rate="2")
    assert_rollup_matches_measurements()
    ExchangeRate.objects.filter(valid_from=dt.date(2026, 3, 1)).update(rate="3")
    assert_rollup_matches_measurements()
    [row] = selectors.unit_value(user=pmo, as_of=dt.date(2026, 3, 31))
    assert row.realised_value == D("150.00")  # 30 + 30 + 3 x 10 x 3
    ExchangeRate.objects.filter(valid_from=dt.date(2026, 1, 1)).delete()
    assert_rollup_matches_measurements()
    assert ValueUnitMissing.objects.get().segments == 1  # January has no rate again
    # A rate of another currency touches nothing.
    before = _rows(STORED_SEGMENTS)
    ExchangeRate.objects.create(currency="GBP", valid_from=dt.date(2025, 1, 1), rate="1.2")
    assert _rows(STORED_SEGMENTS) == before


def test_kpi_direction_currency_and_deletion_keep_the_unit_tables_exact(initiative_a, pmo):
    ExchangeRate.objects.create(currency="EUR", valid_from=dt.date(2025, 1, 1), rate="2")
    kpi = _kpi(initiative_a, baseline_value=D("10"), target_value=D("20"))
    _measure(kpi, (dt.date(2026, 1, 10), "12"), (dt.date(2026, 2, 10), "15"))
    assert_rollup_matches_measurements()
    KPI.objects.filter(pk=kpi.pk).update(
        direction=KPI.Direction.DECREASE, target_value=D("5"), value_currency="EUR"
    )
    assert_rollup_matches_measurements()
    assert ValueSegment.objects.get(start=dt.date(2026, 2, 1)).amount == D("-100")  # (10-15)x10x2
    kpi.delete()
    assert_rollup_matches_measurements()
    assert not ValueSegment.objects.exists()
    assert not ValueUnitStep.objects.exists() and not ValueUnitMissing.objects.exists()


def test_rebuild_gives_the_same_rows(initiative_a, initiative_b):
    ExchangeRate.objects.create(currency="EUR", valid_from=dt.date(2026, 2, 1), rate="1.1")
    for kpi in (
        _kpi(initiative_a),
        _kpi(initiative_b, cadence="weekly", value_currency="EUR"),
        _kpi(initiative_b, cadence="quarterly", value_currency="CHF"),
    ):
        for n in range(10):
            MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 1, 3) + dt.timedelta(days=11 * n))
    steps = _rows(STEPS)
    segments = _rows(STORED_SEGMENTS)
    value_rollup.rebuild()
    assert _rows(STORED_SEGMENTS) == segments
    assert _rows(STEPS) == steps
    assert_rollup_matches_measurements()


def _summed_by_unit(rows, units):
    """Initiative value rows summed into the given {unit id: bucket id} map."""
    totals: dict[int, dict] = {}
    for r in rows:
        bucket = units.get(r.business_unit_id)
        if bucket is None:
            continue
        t = totals.setdefault(bucket, {"cost": D(0), "value": None, "missing": set()})
        t["cost"] += r.total_cost
        if r.realised_value is not None:
            t["value"] = (t["value"] or D(0)) + r.realised_value
        t["missing"] |= set(r.missing_rates)
    return totals


@pytest.fixture
def portfolio_of_values(
    unit_a, unit_a_child, unit_b, initiative_a, initiative_a_child, initiative_b
):
    """KPIs of every cadence, in three units (one a child of another), some in a currency
    with a rate and one without, measured over a year; spend in two currencies."""
    ExchangeRate.objects.create(currency="EUR", valid_from=dt.date(2025, 6, 1), rate="1.25")
    plan = [
        (initiative_a, "monthly", "USD"),
        (initiative_a, "weekly", "EUR"),
        (initiative_a_child, "quarterly", "USD"),
        (initiative_a_child, "monthly", "JPY"),  # no rate
        (initiative_b, "monthly", "EUR"),
        (initiative_b, "weekly", "USD"),
    ]
    for i, (initiative, cadence, currency) in enumerate(plan):
        kpi = _kpi(initiative, cadence=cadence, value_currency=currency, baseline_value=D(i))
        for n in range(14):
            MeasurementFactory(
                kpi=kpi,
                measured_on=dt.date(2025, 9, 1) + dt.timedelta(days=23 * n + i),
                value=D(i + n % 5),
            )
    for initiative in (initiative_a, initiative_a_child, initiative_b):
        for n, currency in enumerate(["USD", "EUR", "USD", "GBP"]):
            SpendEntryFactory(
                initiative=initiative,
                business_unit=initiative.business_unit,
                posted_on=dt.date(2025, 10, 5) + dt.timedelta(days=60 * n),
                amount=D("100.00") * (n + 1),
                currency=currency,
            )
    return unit_a, unit_a_child, unit_b


@pytest.mark.parametrize(
    "as_of", [None, dt.date(2025, 12, 20), dt.date(2026, 2, 1), dt.date(2026, 9, 30)]
)
def test_units_read_from_the_steps_equal_their_initiatives_summed(portfolio_of_values, pmo, as_of):
    unit_a, unit_a_child, unit_b = portfolio_of_values
    assert_rollup_matches_measurements()
    initiatives = selectors.initiative_value(user=pmo, as_of=as_of)
    # Top level: the child rolls up into its parent.
    top = {u.key_id: u for u in selectors.unit_value(user=pmo, as_of=as_of)}
    expected = _summed_by_unit(
        initiatives, {unit_a.pk: unit_a.pk, unit_a_child.pk: unit_a.pk, unit_b.pk: unit_b.pk}
    )
    for key, t in expected.items():
        assert top[key].total_cost == t["cost"]
        assert top[key].realised_value == t["value"]
        assert set(top[key].missing_rates) == t["missing"]
    assert top[unit_a.pk].missing_rates  # JPY and GBP have no rate
    # One unit: itself and its child, each on its own row.
    inside = {u.key_id: u for u in selectors.unit_value(user=pmo, unit=unit_a, as_of=as_of)}
    expected = _summed_by_unit(
        initiatives, {unit_a.pk: unit_a.pk, unit_a_child.pk: unit_a_child.pk}
    )
    for key, t in expected.items():
        assert inside[key].realised_value == t["value"]
        assert inside[key].total_cost == t["cost"]


def test_a_measurement_dated_after_as_of_does_not_count_yet(portfolio_of_values, pmo):
    """A measurement dated in the future: the stored segments and steps hold it, the
    selectors take it out for today and give what the periods are worth today, for units
    and initiatives alike."""
    unit_a, unit_a_child, unit_b = portfolio_of_values
    kpi = KPI.objects.filter(initiative__business_unit=unit_b, cadence="monthly").get()

    def unit_b_value():
        [row] = [u for u in selectors.unit_value(user=pmo) if u.key_id == unit_b.pk]
        return row.realised_value

    def initiative_b_value():
        [row] = selectors.initiative_value(user=pmo, initiative_ids=[kpi.initiative_id])
        return row.realised_value

    before = (unit_b_value(), initiative_b_value())
    future = dt.date.today() + dt.timedelta(days=40)  # a later month than today's
    _measure(kpi, (future, "400"))
    assert_rollup_matches_measurements()
    assert ValueSegment.objects.filter(kpi=kpi, measured_on=future).exists()
    assert (unit_b_value(), initiative_b_value()) == before
    assert (
        unit_b_value()
        == _summed_by_unit(selectors.initiative_value(user=pmo), {unit_b.pk: unit_b.pk})[unit_b.pk][
            "value"
        ]
    )
    # As of that day, it counts.
    [later] = selectors.initiative_value(user=pmo, as_of=future, initiative_ids=[kpi.initiative_id])
    assert later.realised_value > before[1]


def test_a_unit_lead_reads_only_their_units_steps(portfolio_of_values, lead_a, lead_b):
    unit_a, unit_a_child, unit_b = portfolio_of_values
    assert [u.key_id for u in selectors.unit_value(user=lead_b)] == [unit_b.pk]
    assert unit_b.pk not in {u.key_id for u in selectors.unit_value(user=lead_a)}


def test_the_units_value_is_one_query_whatever_the_kpis(portfolio_of_values, pmo):
    selectors.unit_value(user=pmo)  # the user's permissions are cached after this
    with CaptureQueriesContext(connection) as small:
        selectors.unit_value(user=pmo)
    unit_a = portfolio_of_values[0]
    for _ in range(5):
        kpi = _kpi(unit_a.initiatives.first())
        _measure(kpi, (dt.date(2026, 1, 5), "3"), (dt.date(2026, 4, 5), "4"))
    with CaptureQueriesContext(connection) as large:
        selectors.unit_value(user=pmo)
    value_queries = [q for q in large.captured_queries if "finance_valueunitstep" in q["sql"]]
    assert len(value_queries) == 1
    assert len(large.captured_queries) == len(small.captured_queries) == 1


def _someone_waits_for_the_unit_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'advisory'"
            " AND classid = %s",
            [value_rollup.LOCK_CLASS],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_two_writers_of_one_units_steps_take_turns_and_both_count(initiative_a, lead_a):
    """Measurements of two KPIs of one unit recorded at once: the second writer waits for
    the first on the unit's lock (the two statements of each cannot interleave into a
    deadlock), then both count; the tables equal the periods."""
    import threading
    import time

    from django.db import connections, transaction

    from portfolio.services import measurement_record

    first_kpi, second_kpi = _kpi(initiative_a), _kpi(initiative_a)
    _measure(first_kpi, (dt.date(2026, 3, 5), "3"))
    _measure(second_kpi, (dt.date(2026, 1, 5), "1"))
    first_wrote, release_first = threading.Event(), threading.Event()
    failures = []

    def record(kpi, day, hold):
        try:
            with transaction.atomic():
                measurement_record(acting_user=lead_a, kpi=kpi, measured_on=day, value=D("5"))
                if hold:
                    first_wrote.set()
                    release_first.wait(30)
        except Exception as exc:  # reported below
            failures.append(exc)
        finally:
            connections.close_all()

    first = threading.Thread(target=record, args=(first_kpi, dt.date(2026, 1, 9), True))
    second = threading.Thread(target=record, args=(second_kpi, dt.date(2026, 3, 9), False))
    first.start()
    assert first_wrote.wait(30)
    second.start()
    deadline = time.monotonic() + 30
    while not _someone_waits_for_the_unit_lock():
        assert time.monotonic() < deadline, "the second writer never waited for the unit"
        time.sleep(0.05)
    release_first.set()
    first.join(30)
    second.join(30)
    assert not failures, failures
    assert_rollup_matches_measurements()
    assert ValueSegment.objects.filter(kpi__in=[first_kpi, second_kpi]).count() == 4
