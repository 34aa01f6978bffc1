"""Gate reviews: request, checklist snapshot, evidence, waivers, separation of duties,
kill and retire."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from governance.models import GateCriterionResult, GateReview, Standard, Waiver
from governance.services import (
    gate_checklist_refresh,
    gate_decide,
    gate_evidence_give,
    gate_review_request,
    gate_review_withdraw,
)
from people.errors import SeparationOfDutiesError
from portfolio.models import Assignment, Initiative, StageTransition
from tests import factories as f
from tests.governance.conftest import satisfy_poc_gate

pytestmark = pytest.mark.django_db


def _give_manual_evidence(review, user):
    for row in review.criteria.filter(check_rule="manual"):
        gate_evidence_give(
            acting_user=user, review=review, standard=row.standard, evidence="Signed plan, v2."
        )


def test_requesting_a_gate_snapshots_the_checklist_from_the_records(
    standards, initiative_a, member_a
):
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    assert review.target_stage == "initial_production"
    assert review.status == "open" and review.requested_by == member_a
    rows = {r.code: r for r in review.criteria.all()}
    assert "POC-MEAS-1" in rows and not rows["POC-MEAS-1"].met
    assert rows["POC-MEAS-1"].detail.startswith("No business KPI")
    f.KPIFactory(initiative=initiative_a, kind="business", baseline_value=Decimal("3"))
    gate_checklist_refresh(acting_user=member_a, review=review)
    assert GateCriterionResult.objects.get(review=review, code="POC-MEAS-1").met


def test_one_open_review_per_initiative(standards, initiative_a, member_a):
    gate_review_request(acting_user=member_a, initiative=initiative_a)
    with pytest.raises(ValidationError, match="already has a gate review"):
        gate_review_request(acting_user=member_a, initiative=initiative_a)


def test_viewer_and_other_unit_cannot_request(standards, initiative_a, viewer_a, lead_b):
    with pytest.raises(PermissionDenied):
        gate_review_request(acting_user=viewer_a, initiative=initiative_a)
    with pytest.raises(Initiative.DoesNotExist):
        gate_review_request(acting_user=lead_b, initiative=initiative_a)


def test_unit_lead_takes_initiative_from_poc_to_initial_production_by_meeting_criteria(
    standards, initiative_a, member_a, lead_a, owner_a
):
    satisfy_poc_gate(initiative_a, owner=owner_a)
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    _give_manual_evidence(review, member_a)
    assert not review.criteria.filter(mandatory=True, met=False).exists()
    review = gate_decide(
        acting_user=lead_a, review=review, decision="advance", rationale="All criteria met."
    )
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "initial_production"
    assert review.status == "decided" and review.decided_by == lead_a
    assert review.transition.decision == "advance"
    assert review.transition.to_stage == "initial_production"
    # Every step is on the audit trail, attributed.
    from governance.selectors import object_history

    events = object_history(review)
    assert [e.pgh_label for e in events][:1] == ["insert"]
    assert events[-1].actor == lead_a
    assert ("Status", "Awaiting decision", "Decided") in events[-1].changes


def test_advancing_with_unmet_mandatory_criteria_needs_a_waiver(
    standards, initiative_a, member_a, lead_a
):
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    with pytest.raises(ValidationError, match="POC-MEAS-1"):
        gate_decide(acting_user=lead_a, review=review, decision="advance", rationale="Go.")
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "proof_of_concept"
    assert not StageTransition.objects.filter(initiative=initiative_a).exists()


def test_waivers_need_a_reason_and_a_future_expiry(standards, initiative_a, member_a, lead_a):
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    blocking = list(review.criteria.filter(mandatory=True, met=False))
    today = timezone.localdate()
    good = {
        r.standard_id: {
            "reason": "Pilot extension agreed.",
            "expires_on": today + dt.timedelta(days=90),
        }
        for r in blocking
    }
    first = blocking[0].standard_id
    for bad in (
        {"reason": "", "expires_on": good[first]["expires_on"]},
        {"reason": "x", "expires_on": today},
    ):
        with pytest.raises(ValidationError):
            gate_decide(
                acting_user=lead_a,
                review=review,
                decision="advance",
                rationale="Go.",
                waivers={**good, first: bad},
            )
    assert not Waiver.objects.exists()
    review = gate_decide(
        acting_user=lead_a, review=review, decision="advance", rationale="Go.", waivers=good
    )
    assert Waiver.objects.filter(review=review).count() == len(blocking)
    w = Waiver.objects.filter(review=review).first()
    assert w.granted_by == lead_a and w.initiative == initiative_a
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "initial_production"


def test_waiver_of_a_met_criterion_is_refused(standards, initiative_a, member_a, lead_a, owner_a):
    satisfy_poc_gate(initiative_a, owner=owner_a)
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    _give_manual_evidence(review, member_a)
    met = Standard.objects.get(code="POC-MEAS-1")
    with pytest.raises(ValidationError, match="not an unmet mandatory"):
        gate_decide(
            acting_user=lead_a,
            review=review,
            decision="advance",
            rationale="Go.",
            waivers={
                met.pk: {"reason": "r", "expires_on": timezone.localdate() + dt.timedelta(days=9)}
            },
        )


def test_requester_cannot_decide_their_own_gate(standards, initiative_a, lead_a):
    review = gate_review_request(acting_user=lead_a, initiative=initiative_a)
    with pytest.raises(SeparationOfDutiesError):
        gate_decide(acting_user=lead_a, review=review, decision="hold", rationale="Wait.")


def test_requirements_owner_cannot_decide_the_gate(standards, initiative_a, member_a, lead_a):
    f.AssignmentFactory(
        initiative=initiative_a, role=Assignment.Role.REQUIREMENTS_OWNER, user=lead_a
    )
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    with pytest.raises(SeparationOfDutiesError, match="requirements owner"):
        gate_decide(acting_user=lead_a, review=review, decision="hold", rationale="Wait.")


def test_pmo_and_coe_decide_any_unit_member_and_other_lead_cannot(
    standards, initiative_a, member_a, lead_a, lead_b, pmo, coe, viewer_a
):
    review = gate_review_request(acting_user=lead_a, initiative=initiative_a)
    with pytest.raises(PermissionDenied):
        gate_decide(acting_user=member_a, review=review, decision="hold", rationale="x")
    with pytest.raises(GateReview.DoesNotExist):
        gate_decide(acting_user=lead_b, review=review, decision="hold", rationale="x")
    gate_decide(acting_user=coe, review=review, decision="hold", rationale="Need a KPI first.")
    review2 = gate_review_request(acting_user=member_a, initiative=initiative_a)
    gate_decide(acting_user=pmo, review=review2, decision="hold", rationale="Still no KPI.")
    assert initiative_a.transitions.filter(decision="hold").count() == 2


def test_decision_needs_a_rationale_and_a_known_decision(standards, initiative_a, member_a, pmo):
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    with pytest.raises(ValidationError, match="reason"):
        gate_decide(acting_user=pmo, review=review, decision="hold", rationale="  ")
    with pytest.raises(ValidationError):
        gate_decide(acting_user=pmo, review=review, decision="import", rationale="x")


def test_kill_records_sunk_cost_from_spend_salvage_and_lessons(
    standards, initiative_a, member_a, pmo
):
    f.SpendEntryFactory(initiative=initiative_a, amount=Decimal("1000.00"), currency="USD")
    f.SpendEntryFactory(initiative=initiative_a, amount=Decimal("250.50"), currency="USD")
    f.SpendEntryFactory(initiative=f.InitiativeFactory(), amount=Decimal("999"))
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    review = gate_decide(
        acting_user=pmo,
        review=review,
        decision="kill",
        rationale="No business case.",
        salvaged="Labelled claims dataset",
        lessons="Baseline first.",
    )
    t = review.transition
    assert t.to_stage == "killed" and t.sunk_cost == Decimal("1250.50")
    assert t.salvaged == "Labelled claims dataset" and t.lessons == "Baseline first."
    initiative_a.refresh_from_db()
    assert initiative_a.status == "closed"


def test_kill_with_spend_in_several_currencies_asks_for_the_sunk_cost(
    standards, initiative_a, member_a, pmo
):
    f.SpendEntryFactory(initiative=initiative_a, currency="USD")
    f.SpendEntryFactory(initiative=initiative_a, currency="EUR")
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    with pytest.raises(ValidationError, match="several currencies"):
        gate_decide(acting_user=pmo, review=review, decision="kill", rationale="Stop.")
    review = gate_decide(
        acting_user=pmo,
        review=review,
        decision="kill",
        rationale="Stop.",
        sunk_cost=Decimal("2600"),
        sunk_cost_currency="EUR",
    )
    assert review.transition.sunk_cost == Decimal("2600")
    assert review.transition.sunk_cost_currency == "EUR"


def test_decided_snapshot_is_frozen(standards, initiative_a, member_a, pmo):
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    gate_decide(acting_user=pmo, review=review, decision="hold", rationale="Wait.")
    with pytest.raises(ValidationError):
        gate_checklist_refresh(acting_user=pmo, review=review)
    with pytest.raises(ValidationError):
        gate_decide(acting_user=pmo, review=review, decision="hold", rationale="Again.")


def test_evidence_only_for_manual_criteria_and_team_members(
    standards, initiative_a, member_a, viewer_a
):
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    auto = Standard.objects.get(code="POC-MEAS-1")
    with pytest.raises(ValidationError, match="checked from the records"):
        gate_evidence_give(acting_user=member_a, review=review, standard=auto, evidence="trust me")
    manual = Standard.objects.get(code="POC-INT-1")
    with pytest.raises(PermissionDenied):
        gate_evidence_give(acting_user=viewer_a, review=review, standard=manual, evidence="x")
    row = gate_evidence_give(acting_user=member_a, review=review, standard=manual, evidence="Plan")
    assert row.met and row.evidence_by == member_a


def test_withdraw_a_request(standards, initiative_a, member_a):
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    gate_review_withdraw(acting_user=member_a, review=review)
    review.refresh_from_db()
    assert review.status == "withdrawn"
    gate_review_request(acting_user=member_a, initiative=initiative_a)


def test_seed_gate_reviews_requests_as_the_owner_and_tops_up_only(
    standards, initiative_a, initiative_b, owner_a, lead_b
):
    from django.core.management import call_command

    f.AssignmentFactory(
        initiative=initiative_a, role=Assignment.Role.REQUIREMENTS_OWNER, user=owner_a
    )
    call_command("seed_gate_reviews", limit=1, verbosity=0)
    review = GateReview.objects.get()
    assert review.initiative == initiative_a and review.requested_by == owner_a
    call_command("seed_gate_reviews", limit=1, verbosity=0)
    assert GateReview.objects.count() == 1
    call_command("seed_gate_reviews", limit=2, verbosity=0)
    assert GateReview.objects.get(initiative=initiative_b).requested_by == lead_b


def test_refresh_task_updates_open_checklists(standards, initiative_a, member_a):
    from governance.tasks import refresh_gate_checklists_task

    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    assert not review.criteria.get(code="POC-MEAS-1").met
    f.KPIFactory(initiative=initiative_a, kind="business", baseline_value=Decimal("1"))
    assert refresh_gate_checklists_task.apply(args=[[review.pk]]).get() == 1
    assert review.criteria.get(code="POC-MEAS-1").met
