"""Two people record measurements of the same KPI period at the same time. "Latest of the
period" is not a sum that each statement can add on its own, so the rollup's trigger makes
the second wait for the first (a lock on the KPI's row) and then recomputes the period
from both measurements: neither write fails and the rollup holds the period's latest."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal as D

import pytest
from django.db import connection, connections, transaction

from portfolio.models import KPIPeriodValue
from portfolio.services import measurement_record
from tests.factories import KPIFactory
from tests.portfolio.test_value_rollup import assert_rollup_matches_measurements

pytestmark = pytest.mark.django_db(transaction=True)


def _someone_waits_for_a_row_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype IN ('transactionid', 'tuple')"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("first_day,second_day", [(20, 10), (10, 20)])
def test_two_recordings_of_one_period_at_once_both_count(
    initiative_a, lead_a, first_day, second_day
):
    kpi = KPIFactory(
        initiative=initiative_a,
        kind="business",
        baseline_value=D("0"),
        value_per_unit=D("1"),
        value_currency="USD",
    )
    first_wrote, release_first = threading.Event(), threading.Event()
    failures = []

    def record(day: int, value: str, hold: bool):
        try:
            with transaction.atomic():
                measurement_record(
                    acting_user=lead_a, kpi=kpi, measured_on=dt.date(2026, 5, day), value=D(value)
                )
                if hold:
                    first_wrote.set()
                    release_first.wait(30)  # the first transaction stays open
        except Exception as exc:  # reported below
            failures.append(exc)
        finally:
            connections.close_all()

    first = threading.Thread(target=record, args=(first_day, str(first_day), True))
    second = threading.Thread(target=record, args=(second_day, str(second_day), False))
    first.start()
    assert first_wrote.wait(30)
    second.start()
    deadline = time.monotonic() + 30
    while not _someone_waits_for_a_row_lock():  # the second now waits for the first
        assert time.monotonic() < deadline, "the second recording never waited for the first"
        time.sleep(0.05)
    release_first.set()
    first.join(30)
    second.join(30)

    assert not failures, failures
    assert_rollup_matches_measurements()
    row = KPIPeriodValue.objects.get(kpi=kpi)
    assert (row.measured_on, row.value) == (dt.date(2026, 5, 20), D("20"))
