"""Two transactions change initiatives of the same flow rollup group (unit and start
quarter) at once. A group's counts are recomputed from all of its initiatives, so the
second waits for the first (an advisory lock per group, or the initiative's row for a
stage history change) and then recomputes with the first's rows committed: neither
write fails and the rollup equals its definition."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, connections, transaction

from portfolio.models import FlowCohort, Initiative
from portfolio.services import initiative_move
from tests import factories as f
from tests.portfolio.test_flow_rollup import assert_rollup_matches_definition

pytestmark = pytest.mark.django_db(transaction=True)

START = dt.date(2025, 5, 6)


def _someone_waits(locktypes: tuple[str, ...]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = ANY(%s)",
            [list(locktypes)],
        )
        return cursor.fetchone()[0] > 0


def _race(first, second, locktypes):
    """Run ``first`` in a transaction kept open until ``second`` (another transaction)
    waits on a lock of ``locktypes``; then let both finish. Returns the failures."""
    first_wrote, release_first = threading.Event(), threading.Event()
    failures = []

    def run(work, hold):
        try:
            with transaction.atomic():
                work()
                if hold:
                    first_wrote.set()
                    release_first.wait(30)
        except Exception as exc:  # reported by the caller
            failures.append(exc)
        finally:
            connections.close_all()

    one = threading.Thread(target=run, args=(first, True))
    two = threading.Thread(target=run, args=(second, False))
    one.start()
    assert first_wrote.wait(30)
    two.start()
    deadline = time.monotonic() + 30
    while not _someone_waits(locktypes):
        assert time.monotonic() < deadline, "the second writer never waited for the first"
        time.sleep(0.05)
    release_first.set()
    one.join(30)
    two.join(30)
    return failures


def test_two_new_initiatives_of_one_group_at_once_both_count(unit_a):
    def create(code):
        return lambda: f.InitiativeFactory(code=code, business_unit=unit_a, started_on=START)

    failures = _race(create("AI-R-1"), create("AI-R-2"), ("advisory",))
    assert not failures, failures
    assert_rollup_matches_definition()
    assert FlowCohort.objects.get(business_unit=unit_a, quarter=dt.date(2025, 4, 1)).started == 2


def test_a_decision_recorded_while_the_initiative_moves_counts_in_its_new_unit(unit_a, unit_b, pmo):
    initiative = f.InitiativeFactory(code="AI-R-3", business_unit=unit_a, started_on=START)
    f.InitiativeFactory(code="AI-R-4", business_unit=unit_b, started_on=START)

    def move():
        initiative_move(acting_user=pmo, initiative=initiative, business_unit=unit_b)

    def decide():
        f.StageTransitionFactory(
            initiative=Initiative.objects.get(pk=initiative.pk),
            business_unit_id=unit_a.pk,
            from_stage="proof_of_concept",
            to_stage="initial_production",
            decided_by=pmo,
        )

    failures = _race(move, decide, ("transactionid", "tuple"))
    assert not failures, failures
    assert_rollup_matches_definition()
    moved = FlowCohort.objects.get(business_unit=unit_b, quarter=dt.date(2025, 4, 1))
    assert (moved.started, moved.ever_initial_production) == (2, 1)
