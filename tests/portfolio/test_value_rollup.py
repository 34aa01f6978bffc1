"""The maintained value rollup (``KPIPeriodValue``) equals what the raw measurements give
after every kind of write (for the KPIs worth money): the service behind the form and the API, the form, the API,
bulk and raw SQL imports, updates that move a measurement to another period, deletes
(one, many, by KPI cascade), KPI edits (cadence re-buckets; baseline and value per unit
are read when the value is computed) and the move of an initiative to another unit.

The expected rows are computed here from ``portfolio_measurement`` with plain SQL that
does not use the rollup's own functions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from finance import selectors
from portfolio import value_rollup
from portfolio.models import KPI, KPIPeriodValue, Measurement
from portfolio.services import initiative_move, measurement_record
from tests.factories import KPIFactory, MeasurementFactory

pytestmark = pytest.mark.django_db

FROM_MEASUREMENTS = """
SELECT DISTINCT ON (m.kpi_id, p.period)
       m.kpi_id, k.initiative_id, k.business_unit_id, p.period, m.measured_on, m.value
FROM portfolio_measurement m
JOIN portfolio_kpi k ON k.id = m.kpi_id AND k.kind = 'business'
     AND k.value_per_unit IS NOT NULL AND k.baseline_value IS NOT NULL
CROSS JOIN LATERAL (SELECT CASE k.cadence
    WHEN 'weekly' THEN m.measured_on - (EXTRACT(ISODOW FROM m.measured_on)::int - 1)
    WHEN 'quarterly' THEN make_date(EXTRACT(YEAR FROM m.measured_on)::int,
                                    (EXTRACT(QUARTER FROM m.measured_on)::int - 1) * 3 + 1, 1)
    ELSE make_date(EXTRACT(YEAR FROM m.measured_on)::int,
                   EXTRACT(MONTH FROM m.measured_on)::int, 1) END AS period) p
ORDER BY m.kpi_id, p.period, m.measured_on DESC"""
FROM_ROLLUP = """
SELECT kpi_id, initiative_id, business_unit_id, period, measured_on, value
FROM portfolio_kpiperiodvalue ORDER BY kpi_id, period"""


def _rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


# The money of each KPI period (finance.value_rollup), from the period rows, with the
# conversion rule written out: the reporting currency at 1, else the latest rate on or
# before the measurement's day; no rate, no amount.
EXPECTED_SEGMENTS = """
SELECT kp.kpi_id, k.initiative_id, k.business_unit_id, k.cadence, kp.period,
       (SELECT MIN(n.period) FROM portfolio_kpiperiodvalue n
        WHERE n.kpi_id = kp.kpi_id AND n.period > kp.period),
       kp.measured_on,
       (CASE WHEN k.direction = 'increase' THEN kp.value - k.baseline_value
             ELSE k.baseline_value - kp.value END) * k.value_per_unit
       * (CASE WHEN k.value_currency = %s THEN 1 ELSE (
            SELECT r.rate FROM finance_exchangerate r
            WHERE r.currency = k.value_currency AND r.valid_from <= kp.measured_on
            ORDER BY r.valid_from DESC LIMIT 1) END),
       k.value_currency
FROM portfolio_kpiperiodvalue kp JOIN portfolio_kpi k ON k.id = kp.kpi_id
ORDER BY kp.kpi_id, kp.period"""
STORED_SEGMENTS = """
SELECT kpi_id, initiative_id, business_unit_id, cadence, start, next, measured_on, amount,
       currency
FROM finance_valuesegment ORDER BY kpi_id, start"""


# Every KPI's latest measurement day (``KPI.last_measured_on``, kept by the same triggers).
LAST_MEASURED = "SELECT id, last_measured_on FROM portfolio_kpi ORDER BY id"
LAST_MEASURED_EXPECTED = """
SELECT k.id, (SELECT MAX(m.measured_on) FROM portfolio_measurement m WHERE m.kpi_id = k.id)
FROM portfolio_kpi k ORDER BY k.id"""


def _expected_unit_tables(segments: list[tuple]) -> tuple[dict, dict]:
    steps: dict[tuple, list] = {}
    missing: dict[tuple, int] = {}
    for _kpi, _init, unit, cadence, start, nxt, _day, amount, currency in segments:
        steps.setdefault((unit, cadence, start), [D(0), 0])
        steps[(unit, cadence, start)][0] += amount or 0
        steps[(unit, cadence, start)][1] += 1
        if nxt is not None:
            steps.setdefault((unit, cadence, nxt), [D(0), 0])
            steps[(unit, cadence, nxt)][0] -= amount or 0
        if amount is None:
            missing[(unit, currency)] = missing.get((unit, currency), 0) + 1
    return {k: tuple(v) for k, v in steps.items() if v != [0, 0]}, missing


def assert_rollup_matches_measurements() -> None:
    """The period rollup equals the measurements, and the value segments and unit steps
    (finance.value_rollup) equal what those periods are worth today."""
    assert _rows(FROM_ROLLUP) == _rows(FROM_MEASUREMENTS)
    assert _rows(LAST_MEASURED) == _rows(LAST_MEASURED_EXPECTED)
    with connection.cursor() as cursor:
        cursor.execute(EXPECTED_SEGMENTS, [settings.REPORTING_CURRENCY])
        expected = list(cursor.fetchall())
    assert _rows(STORED_SEGMENTS) == expected
    steps, missing = _expected_unit_tables(expected)
    stored_steps = {
        (u, c, at): (amount, starts)
        for u, c, at, amount, starts in _rows(
            "SELECT business_unit_id, cadence, at, amount, starts FROM finance_valueunitstep"
        )
    }
    assert stored_steps == steps
    stored_missing = {
        (u, c): n
        for u, c, n in _rows(
            "SELECT business_unit_id, currency, segments FROM finance_valueunitmissing"
        )
    }
    assert stored_missing == missing


def _kpi(initiative, cadence="monthly", **kw):
    values = {
        "initiative": initiative,
        "kind": "business",
        "cadence": cadence,
        "baseline_value": D("0"),
        "value_per_unit": D("10"),
        "value_currency": "USD",
    } | kw
    return KPIFactory(**values)


def _value(user, initiative, as_of=dt.date(2026, 6, 30)):
    rows = selectors.initiative_value(user=user, as_of=as_of, initiative_ids=[initiative.pk])
    return rows[0].realised_value if rows else None


def test_service_records_and_corrections_keep_the_rollup_exact(initiative_a, lead_a):
    kpi = _kpi(initiative_a)
    measurement_record(acting_user=lead_a, kpi=kpi, measured_on=dt.date(2026, 3, 3), value=D("4"))
    measurement_record(acting_user=lead_a, kpi=kpi, measured_on=dt.date(2026, 3, 20), value=D("6"))
    assert_rollup_matches_measurements()
    assert KPIPeriodValue.objects.get().value == D("6")
    # Correcting the latest day of the period changes the period's level.
    measurement_record(acting_user=lead_a, kpi=kpi, measured_on=dt.date(2026, 3, 20), value=D("9"))
    assert_rollup_matches_measurements()
    assert KPIPeriodValue.objects.get().value == D("9")
    # Correcting an earlier day of the period does not.
    measurement_record(acting_user=lead_a, kpi=kpi, measured_on=dt.date(2026, 3, 3), value=D("1"))
    assert_rollup_matches_measurements()
    assert KPIPeriodValue.objects.get().value == D("9")


def test_web_form_keeps_the_rollup_exact(client, initiative_a, lead_a):
    kpi = _kpi(initiative_a)
    client.force_login(lead_a)
    today = timezone.localdate()
    response = client.post(
        reverse("measurement_create", args=[initiative_a.pk]),
        {"kpi": kpi.pk, "measured_on": today.isoformat(), "value": "12", "note": ""},
    )
    assert response.status_code == 302
    assert_rollup_matches_measurements()
    assert KPIPeriodValue.objects.get().measured_on == today


def test_api_keeps_the_rollup_exact(initiative_a, lead_a):
    kpi = _kpi(initiative_a, "weekly")
    api = APIClient()
    api.force_authenticate(lead_a)
    for day, value in ((dt.date(2026, 5, 4), "2"), (dt.date(2026, 5, 6), "3")):
        response = api.post(
            "/api/v1/measurements/",
            {"kpi": kpi.pk, "measured_on": day.isoformat(), "value": value},
            format="json",
        )
        assert response.status_code == 201, response.content
    assert_rollup_matches_measurements()
    assert KPIPeriodValue.objects.get().value == D("3")  # one week, its latest


def test_bulk_and_raw_sql_imports_keep_the_rollup_exact(initiative_a, initiative_b):
    kpis = [_kpi(initiative_a), _kpi(initiative_b, "quarterly"), _kpi(initiative_a, "weekly")]
    Measurement.objects.bulk_create(
        [
            Measurement(
                kpi=k,
                business_unit_id=k.business_unit_id,
                measured_on=dt.date(2026, 1, 1) + dt.timedelta(days=n * 5),
                value=D(n),
            )
            for k in kpis
            for n in range(40)
        ]
    )
    assert_rollup_matches_measurements()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO portfolio_measurement
                   (kpi_id, business_unit_id, measured_on, value, note, created_at, updated_at)
               SELECT k.id, k.business_unit_id, d::date, 100 + EXTRACT(DAY FROM d), '', now(),
                      now()
               FROM portfolio_kpi k,
                    generate_series('2026-08-01'::date, '2026-10-31'::date, '3 days') d""",
        )
    assert_rollup_matches_measurements()


def test_updates_that_move_a_measurement_keep_the_rollup_exact(initiative_a):
    kpi = _kpi(initiative_a)
    a = MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 2, 10), value=D("5"))
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 2, 1), value=D("1"))
    a.measured_on = dt.date(2026, 4, 10)  # February's latest moves to April
    a.save()
    assert_rollup_matches_measurements()
    Measurement.objects.filter(kpi=kpi).update(value=D("7"))
    assert_rollup_matches_measurements()
    other = _kpi(initiative_a)
    Measurement.objects.filter(pk=a.pk).update(kpi=other)
    assert_rollup_matches_measurements()


def test_deletes_keep_the_rollup_exact(initiative_a, initiative_b):
    kpi = _kpi(initiative_a)
    latest = MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 2, 20), value=D("5"))
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 2, 2), value=D("3"))
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 3, 2), value=D("4"))
    latest.delete()  # February falls back to its earlier measurement
    assert_rollup_matches_measurements()
    assert KPIPeriodValue.objects.get(period=dt.date(2026, 2, 1)).value == D("3")
    Measurement.objects.filter(measured_on__month=3).delete()  # an emptied period goes
    assert_rollup_matches_measurements()
    other = _kpi(initiative_b)
    MeasurementFactory(kpi=other, measured_on=dt.date(2026, 2, 2), value=D("3"))
    kpi.delete()  # cascades to its measurements
    assert_rollup_matches_measurements()
    initiative_b.delete()
    assert_rollup_matches_measurements()
    assert not KPIPeriodValue.objects.exists()


def test_kpi_edits_keep_the_rollup_and_the_value_exact(initiative_a, pmo):
    kpi = _kpi(initiative_a)
    for month in (1, 2, 4):
        MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, month, 15), value=D(month))
    # Monthly: Jan 1, Feb 2, Mar 2 (carried), Apr 4, May 4, Jun 4 = 17 levels x 10.
    assert _value(pmo, initiative_a) == D("170.00")
    kpi.cadence = KPI.Cadence.QUARTERLY
    kpi.save()
    assert_rollup_matches_measurements()
    assert KPIPeriodValue.objects.count() == 2
    # Quarterly: Q1 at February's 2, Q2 at April's 4.
    assert _value(pmo, initiative_a) == D("60.00")
    KPI.objects.filter(pk=kpi.pk).update(cadence=KPI.Cadence.WEEKLY)
    assert_rollup_matches_measurements()
    kpi.refresh_from_db()
    kpi.cadence = KPI.Cadence.MONTHLY
    kpi.baseline_value = D("1")
    kpi.value_per_unit = D("100")
    kpi.save()
    assert_rollup_matches_measurements()
    # Read with the KPI's new baseline and value per unit: 17 - 6 x 1 = 11 levels x 100.
    assert _value(pmo, initiative_a) == D("1100.00")
    KPI.objects.filter(pk=kpi.pk).update(kind=KPI.Kind.TECHNICAL)
    assert_rollup_matches_measurements()
    assert not KPIPeriodValue.objects.exists()  # not worth money: no rows kept
    assert _value(pmo, initiative_a) is None
    KPI.objects.filter(pk=kpi.pk).update(kind=KPI.Kind.BUSINESS)
    assert_rollup_matches_measurements()
    assert _value(pmo, initiative_a) == D("1100.00")
    kpi.refresh_from_db()
    kpi.value_per_unit = None
    kpi.value_currency = ""
    kpi.save()
    assert_rollup_matches_measurements()
    assert not KPIPeriodValue.objects.exists()


def test_kpis_not_worth_money_add_no_rows(initiative_a):
    uptime = _kpi(initiative_a, "weekly", kind="operational")
    no_value = _kpi(initiative_a, value_per_unit=None, value_currency="")
    for kpi in (uptime, no_value):
        MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 3, 3))
    assert not KPIPeriodValue.objects.exists()
    assert_rollup_matches_measurements()


def test_moving_the_initiative_moves_its_value(initiative_a, unit_b, pmo, lead_a, lead_b):
    kpi = _kpi(initiative_a)
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 6, 1), value=D("5"))
    assert _value(lead_a, initiative_a) == D("50.00")
    initiative_move(acting_user=pmo, initiative=initiative_a, business_unit=unit_b)
    assert_rollup_matches_measurements()
    assert KPIPeriodValue.objects.get().business_unit_id == unit_b.pk
    assert _value(lead_a, initiative_a) is None  # no longer visible to unit A's lead
    assert _value(lead_b, initiative_a) == D("50.00")
    [row] = selectors.unit_value(user=lead_b, as_of=dt.date(2026, 6, 30))
    assert row.realised_value == D("50.00")


def test_rebuild_gives_the_same_rows(initiative_a, initiative_b):
    for k in (_kpi(initiative_a), _kpi(initiative_b, "weekly")):
        for n in range(12):
            MeasurementFactory(kpi=k, measured_on=dt.date(2026, 1, 3) + dt.timedelta(days=9 * n))
    before = _rows(FROM_ROLLUP)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM portfolio_kpiperiodvalue")
    value_rollup.rebuild()
    assert _rows(FROM_ROLLUP) == before
    assert_rollup_matches_measurements()


def test_a_period_recorded_after_as_of_uses_its_latest_measurement_before_as_of(initiative_a, pmo):
    kpi = _kpi(initiative_a)
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 6, 5), value=D("2"))
    MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 6, 25), value=D("9"))
    assert _value(pmo, initiative_a, as_of=dt.date(2026, 6, 10)) == D("20.00")
    assert _value(pmo, initiative_a, as_of=dt.date(2026, 6, 4)) is None
    assert _value(pmo, initiative_a, as_of=dt.date(2026, 6, 30)) == D("90.00")


def test_the_latest_measurement_day_is_kept_without_an_audit_event(initiative_a, lead_a):
    """``KPI.last_measured_on`` follows the measurements (for every KPI, worth money or
    not) and is derived: keeping it writes no KPI event to the audit trail."""
    from django.apps import apps

    KPIEvent = apps.get_model("portfolio", "KPIEvent")
    uptime = _kpi(initiative_a, "weekly", kind="operational")
    events = KPIEvent.objects.count()
    measurement_record(
        acting_user=lead_a, kpi=uptime, measured_on=dt.date(2026, 3, 3), value=D("1")
    )
    m = measurement_record(
        acting_user=lead_a, kpi=uptime, measured_on=dt.date(2026, 4, 3), value=D("2")
    )
    uptime.refresh_from_db()
    assert uptime.last_measured_on == dt.date(2026, 4, 3)
    m.delete()
    uptime.refresh_from_db()
    assert uptime.last_measured_on == dt.date(2026, 3, 3)
    Measurement.objects.filter(kpi=uptime).delete()
    uptime.refresh_from_db()
    assert uptime.last_measured_on is None
    assert KPIEvent.objects.count() == events
    assert_rollup_matches_measurements()
    measurement_record(
        acting_user=lead_a, kpi=uptime, measured_on=dt.date(2026, 3, 3), value=D("1")
    )
    # A save of a stale copy (a form, the admin, an import) cannot overwrite the day.
    stale = KPI.objects.get(pk=uptime.pk)
    stale.last_measured_on = dt.date(2020, 1, 1)
    stale.save()
    uptime.refresh_from_db()
    assert uptime.last_measured_on == dt.date(2026, 3, 3)
