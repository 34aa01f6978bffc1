"""Each separation-of-duties rule: the service refuses with a clear error, and where a
check constraint backs it, the database refuses too."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from finance.models import Budget
from finance.services import budget_approve, budget_reject, budget_request
from governance.models import AccessReviewItem, ModelVersion
from governance.services import access_review_decide, model_version_promote
from people.errors import SeparationOfDutiesError
from people.models import UnitMembership, UnitRole
from portfolio.models import Assignment, Initiative
from portfolio.services import stage_decide
from tests.conftest import _member
from tests.factories import (
    AccessReviewFactory,
    AccessReviewItemFactory,
    AssignmentFactory,
    BudgetFactory,
    GateReviewFactory,
    ModelVersionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_budget_cannot_be_approved_by_its_requester(finance, initiative_a):
    budget = budget_request(
        acting_user=finance,
        initiative=initiative_a,
        fiscal_year=2026,
        kind="one_time",
        category="compute",
        amount=Decimal("5000"),
        currency="USD",
    )
    with pytest.raises(SeparationOfDutiesError, match="requested this budget"):
        budget_approve(acting_user=finance, budget=budget)
    budget.refresh_from_db()
    assert budget.status == Budget.Status.REQUESTED


def test_budget_is_approved_by_someone_else_in_finance(finance, lead_a, initiative_a):
    budget = budget_request(
        acting_user=lead_a,
        initiative=initiative_a,
        fiscal_year=2026,
        kind="operational",
        category="vendor",
        amount=Decimal("12000"),
        currency="USD",
    )
    budget_approve(acting_user=finance, budget=budget, note="In plan.")
    budget.refresh_from_db()
    assert (budget.status, budget.approved_by) == (Budget.Status.APPROVED, finance)


def test_database_refuses_a_budget_approved_by_its_requester(finance, initiative_a):
    with pytest.raises(IntegrityError, match="budget_approver_not_requester"), transaction.atomic():
        BudgetFactory(
            initiative=initiative_a, requested_by=finance, approved_by=finance, status="approved"
        )


def test_unit_lead_cannot_approve_budgets(lead_a, member_a, initiative_a):
    budget = BudgetFactory(initiative=initiative_a, requested_by=member_a)
    with pytest.raises(PermissionDenied, match="Only finance staff"):
        budget_approve(acting_user=lead_a, budget=budget)


def test_rejecting_a_budget_needs_a_reason(finance, member_a, initiative_a):
    budget = BudgetFactory(initiative=initiative_a, requested_by=member_a)
    with pytest.raises(ValidationError, match="Say why"):
        budget_reject(acting_user=finance, budget=budget, note=" ")


def test_model_version_cannot_be_promoted_by_its_creator(coe, initiative_a):
    mv = ModelVersionFactory(ai_system__initiative=initiative_a, created_by=coe)
    with pytest.raises(SeparationOfDutiesError, match="created this model version"):
        model_version_promote(acting_user=coe, model_version=mv)
    mv.refresh_from_db()
    assert mv.status == ModelVersion.Status.DEVELOPMENT


def test_model_version_promoted_by_another_person_retires_the_previous_one(
    coe, member_a, initiative_a
):
    old = ModelVersionFactory(ai_system__initiative=initiative_a, created_by=member_a)
    model_version_promote(acting_user=coe, model_version=old)
    new = ModelVersionFactory(ai_system=old.ai_system, created_by=member_a)
    model_version_promote(acting_user=coe, model_version=new)
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == ("retired", "production")
    assert new.approved_by == coe


def test_database_refuses_a_model_version_approved_by_its_creator(coe, initiative_a):
    with pytest.raises(IntegrityError, match="model_approver_not_creator"), transaction.atomic():
        ModelVersionFactory(ai_system__initiative=initiative_a, created_by=coe, approved_by=coe)


def test_requirements_owner_cannot_decide_their_initiatives_gate(pmo, initiative_a):
    AssignmentFactory(initiative=initiative_a, role=Assignment.Role.REQUIREMENTS_OWNER, user=pmo)
    with pytest.raises(SeparationOfDutiesError, match="requirements owner"):
        stage_decide(
            acting_user=pmo, initiative=initiative_a, decision="advance", rationale="Ready."
        )
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "proof_of_concept"
    assert not initiative_a.transitions.exists()


def test_gate_decision_needs_a_rationale(pmo, initiative_a):
    with pytest.raises(ValidationError, match="Give the reason"):
        stage_decide(acting_user=pmo, initiative=initiative_a, decision="advance", rationale="")


def test_gate_decision_by_pmo_moves_the_stage_and_records_the_transition(pmo, initiative_a):
    # Forward only through the gate review into that stage (issue 13).
    review = GateReviewFactory(initiative=initiative_a)
    transition = stage_decide(
        acting_user=pmo,
        initiative=initiative_a,
        decision="advance",
        rationale="Baseline measured.",
        gate_review_id=review.pk,
    )
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "initial_production"
    assert (transition.from_stage, transition.to_stage, transition.decided_by) == (
        "proof_of_concept",
        "initial_production",
        pmo,
    )


def test_kill_closes_the_initiative_and_keeps_the_lessons(pmo, initiative_a):
    stage_decide(
        acting_user=pmo,
        initiative=initiative_a,
        decision="kill",
        rationale="No measurable value.",
        sunk_cost=Decimal("120000"),
        sunk_cost_currency="EUR",
        lessons="Measure a baseline first.",
    )
    initiative_a.refresh_from_db()
    assert (initiative_a.stage, initiative_a.status) == ("killed", Initiative.Status.CLOSED)
    assert initiative_a.transitions.get().lessons == "Measure a baseline first."


def test_unit_lead_cannot_decide_another_units_gate(lead_b, initiative_a):
    with pytest.raises(PermissionDenied, match="may not decide gates"):
        stage_decide(acting_user=lead_b, initiative=initiative_a, decision="advance", rationale="x")


def test_access_review_decider_cannot_decide_their_own_access(lead_a, unit_a):
    review = AccessReviewFactory(business_unit=unit_a, reviewer=lead_a)
    membership = UnitMembership.objects.get(user=lead_a, business_unit=unit_a)
    item = AccessReviewItemFactory(review=review, user=lead_a, membership=membership, role="lead")
    with pytest.raises(SeparationOfDutiesError, match="your own access"):
        access_review_decide(acting_user=lead_a, item=item, decision="revoke")
    item.refresh_from_db()
    assert item.decision == AccessReviewItem.Decision.PENDING


def test_access_review_revocation_removes_the_permission_at_once(lead_a, unit_a, initiative_a):
    user = _member(UserFactory(username="leaver"), unit_a, UnitRole.MEMBER)
    assert Initiative.objects.visible_to(user).exists()
    review = AccessReviewFactory(business_unit=unit_a, reviewer=lead_a)
    membership = UnitMembership.objects.get(user=user)
    item = AccessReviewItemFactory(review=review, user=user, membership=membership)
    access_review_decide(acting_user=lead_a, item=item, decision="revoke", note="Left the team.")
    fresh = type(user).objects.get(pk=user.pk)
    assert not Initiative.objects.visible_to(fresh).exists()
    item.refresh_from_db()
    assert (item.decision, item.user, item.role) == ("revoke", user, "member")  # evidence stays


def test_database_refuses_a_review_item_decided_by_the_reviewed_user(unit_a, lead_a):
    with pytest.raises(IntegrityError, match="review_decider_not_reviewed"), transaction.atomic():
        AccessReviewItemFactory(review__business_unit=unit_a, user=lead_a, decided_by=lead_a)
