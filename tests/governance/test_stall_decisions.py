"""Issue 14, part 2: a stall review has a deadline set by the stage's policy; reminders
before it; at it, escalation to the accountable executive, then the PMO; overdue decisions
on the PMO home with their age; decision time (median, p90) per unit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.models import GateReview
from governance.selectors import overdue_stall_decisions, stall_decision_times
from governance.services import gate_decide, gate_review_open_for_stall, stall_decisions_chase
from people.models import Notification
from portfolio.models import StagePolicy
from tests import factories as f

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture
def stalled(unit_a, pmo):
    StagePolicy.objects.create(
        stage="proof_of_concept",
        limit_days=100,
        inactivity_days=1000,
        decision_days=20,
        reminder_days=5,
    )
    return f.InitiativeFactory(
        code="AI-STALL",
        business_unit=unit_a,
        stage="proof_of_concept",
        stage_entered_at=timezone.now() - dt.timedelta(days=200),
    )


@pytest.fixture
def executive(stalled, unit_a):
    user = f.UserFactory(username="exec-a")
    f.UnitMembershipFactory(user=user, business_unit=unit_a, role="viewer")
    f.AssignmentFactory(initiative=stalled, role="accountable_executive", user=user)
    return user


def _told(key_end: str) -> set[str]:
    return set(
        Notification.objects.filter(finding_key__endswith=key_end).values_list(
            "user__username", flat=True
        )
    )


def test_deadline_comes_from_the_stage_policy_and_the_pmo_can_change_it(stalled, pmo):
    review = gate_review_open_for_stall(acting_user=pmo, initiative=stalled)
    assert review.decision_due_on == TODAY + dt.timedelta(days=20)
    assert "by" in review.request_note


def test_remind_then_escalate_to_executive_then_pmo_each_once(
    stalled, executive, pmo, lead_a, lead_b
):
    review = gate_review_open_for_stall(acting_user=pmo, initiative=stalled)
    due = review.decision_due_on
    # Before the reminder window: nothing.
    result = stall_decisions_chase(today=due - dt.timedelta(days=6), send_email=False)
    assert (result.reminded, result.to_executive, result.to_pmo) == ([], [], [])
    # Reminder window: the unit's lead and the executive, once however often it runs.
    for _ in range(2):
        result = stall_decisions_chase(today=due - dt.timedelta(days=5), send_email=False)
    assert _told(":reminder") == {"lead-a", "exec-a"}
    # The deadline: the accountable executive.
    result = stall_decisions_chase(today=due, send_email=False)
    assert result.to_executive == [review.pk] and result.to_pmo == []
    assert stall_decisions_chase(today=due, send_email=False).to_executive == []
    assert "exec-a" in _told(":executive")
    review.refresh_from_db()
    assert (review.escalation_level, review.escalated_on) == (1, due)
    # Still undecided after the grace (reminder_days): the PMO.
    assert stall_decisions_chase(today=due + dt.timedelta(days=4), send_email=False).to_pmo == []
    result = stall_decisions_chase(today=due + dt.timedelta(days=5), send_email=False)
    assert result.to_pmo == [review.pk]
    assert "pmo" in _told(":pmo") and "lead-b" not in _told(":pmo")
    assert stall_decisions_chase(today=due + dt.timedelta(days=9), send_email=False).to_pmo == []
    assert Notification.objects.filter(finding_key__endswith=":pmo", user=pmo).count() == 1


def test_without_an_accountable_executive_it_goes_to_the_pmo_at_the_deadline(stalled, pmo):
    review = gate_review_open_for_stall(acting_user=pmo, initiative=stalled)
    result = stall_decisions_chase(today=review.decision_due_on, send_email=False)
    assert result.to_executive == [] and result.to_pmo == [review.pk]


def test_a_decided_review_is_neither_reminded_nor_escalated(stalled, executive, pmo, lead_a):
    review = gate_review_open_for_stall(acting_user=pmo, initiative=stalled)
    gate_decide(acting_user=lead_a, review=review, decision="kill", rationale="No sponsor.")
    result = stall_decisions_chase(
        today=review.decision_due_on + dt.timedelta(days=30), send_email=False
    )
    assert (result.reminded, result.to_executive, result.to_pmo) == ([], [], [])


def test_the_chase_runs_as_a_celery_task_and_is_scheduled(stalled, pmo):
    from django_celery_beat.models import PeriodicTask

    from governance.tasks import stall_decisions_chase_task

    review = gate_review_open_for_stall(acting_user=pmo, initiative=stalled)
    out = stall_decisions_chase_task.apply(
        args=[(review.decision_due_on + dt.timedelta(days=1)).isoformat()]
    ).get()
    assert out["to_pmo"] == 1
    # The schedule the migration installs (a flushed test database may have lost its row).
    import importlib

    from django.apps import apps

    migration = importlib.import_module("governance.migrations.0007_stall_deadlines_and_activity")
    migration.schedule_stall_chase(apps, None)
    assert PeriodicTask.objects.filter(task="governance.stall_decisions_chase").exists()


def test_overdue_decisions_on_the_pmo_home_with_their_age(client, stalled, pmo, lead_b):
    review = gate_review_open_for_stall(acting_user=pmo, initiative=stalled)
    GateReview.objects.filter(pk=review.pk).update(decision_due_on=TODAY - dt.timedelta(days=6))
    client.force_login(pmo)
    ctx = client.get(reverse("home")).context
    assert ctx["overdue_count"] == 1
    assert ctx["overdue"][0].days_overdue == 6
    assert not overdue_stall_decisions(lead_b).exists()


def test_decision_time_median_and_p90_per_unit(stalled, pmo, lead_a, unit_a, unit_b, lead_b):
    now = timezone.now()
    for days in (2, 4, 10):
        f.GateReviewFactory(
            initiative=f.InitiativeFactory(business_unit=unit_a),
            reason="stalled",
            status="decided",
            requested_by=pmo,
            requested_at=now - dt.timedelta(days=days),
            decided_by=lead_a,
            decided_at=now,
            decision="hold",
            rationale="Held.",
        )
    [row] = stall_decision_times(pmo)
    assert row["decided"] == 3
    assert row["median_days"] == pytest.approx(4.0)
    assert row["p90_days"] == pytest.approx(8.8)
    assert stall_decision_times(lead_b) == []


def test_stalled_page_shows_the_deadline_and_is_scoped(client, stalled, pmo, lead_b):
    review = gate_review_open_for_stall(acting_user=pmo, initiative=stalled)
    client.force_login(pmo)
    response = client.get(reverse("governance:stalled_list"))
    assert review.decision_due_on.strftime("%-d %b %Y").encode() in response.content
    client.force_login(lead_b)
    response = client.get(reverse("governance:stalled_list"))
    assert b"AI-STALL" not in response.content


def test_a_eur_kill_keeps_its_currency(stalled, pmo, lead_a, client):
    """The issue's example: a EUR 100,000 kill is not "USD 100,000"."""
    f.SpendEntryFactory(initiative=stalled, currency="EUR", amount=100000)
    review = gate_review_open_for_stall(acting_user=pmo, initiative=stalled)
    review = gate_decide(acting_user=lead_a, review=review, decision="kill", rationale="Stop.")
    t = review.transition
    assert (t.sunk_cost, t.sunk_cost_currency) == (100000, "EUR")
    client.force_login(pmo)
    response = client.get(reverse("home"))
    assert b"sunk cost EUR 100,000" in response.content
    assert b"USD 100,000" not in response.content


def test_a_sunk_cost_entered_without_its_currency_is_refused(stalled, pmo, lead_a):
    from django.core.exceptions import ValidationError

    review = gate_review_open_for_stall(acting_user=pmo, initiative=stalled)
    with pytest.raises(ValidationError, match="currency"):
        gate_decide(
            acting_user=lead_a, review=review, decision="kill", rationale="Stop.", sunk_cost=5
        )
