"""Budget workflow: request, approve or reject, amend. Separation of duties is enforced
here and, for approvals, by a check constraint in the database too."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from finance.models import Budget
from people.audit import acting_as
from people.errors import SeparationOfDutiesError
from people.scoping import has_global
from portfolio.models import Initiative


def _check_currency(currency: str) -> None:
    if currency not in settings.CURRENCIES:
        raise ValidationError(
            {
                "currency": f"{currency!r} is not a configured currency ({', '.join(settings.CURRENCIES)})."
            }
        )


@transaction.atomic
def budget_request(
    *,
    acting_user,
    initiative: Initiative,
    fiscal_year: int,
    kind: str,
    category: str,
    amount: Decimal,
    currency: str,
    justification: str = "",
) -> Budget:
    """Ask for money for one initiative, year, kind and category. The request waits for
    someone other than ``acting_user`` to approve it."""
    if not Initiative.objects.editable_by(acting_user).filter(pk=initiative.pk).exists() and not (
        has_global(acting_user, "finance.add_budget")
    ):
        raise PermissionDenied("You may not request budgets for this initiative.")
    _check_currency(currency)
    if amount is None or Decimal(amount) <= 0:
        raise ValidationError({"amount": "The amount must be greater than zero."})
    if Budget.objects.filter(
        initiative=initiative,
        fiscal_year=fiscal_year,
        kind=kind,
        category=category,
        status__in=[Budget.Status.DRAFT, Budget.Status.REQUESTED],
    ).exists():
        raise ValidationError("A request for this line is already waiting for a decision.")
    with acting_as(acting_user):
        budget = Budget.objects.create(
            initiative=initiative,
            business_unit_id=initiative.business_unit_id,
            fiscal_year=fiscal_year,
            kind=kind,
            category=category,
            amount=amount,
            currency=currency,
            justification=justification,
            status=Budget.Status.REQUESTED,
            requested_by=acting_user,
            requested_at=timezone.now(),
        )
    return budget


def _lock_for_decision(acting_user, budget: Budget) -> Budget:
    if not has_global(acting_user, "finance.approve_budget"):
        raise PermissionDenied("Only finance staff can approve or reject budgets.")
    budget = Budget.objects.select_for_update().get(pk=budget.pk)
    if budget.status != Budget.Status.REQUESTED:
        raise ValidationError(
            f"This budget is {budget.get_status_display().lower()}, not awaiting a decision."
        )
    if budget.requested_by_id == acting_user.pk:
        raise SeparationOfDutiesError("You requested this budget, so someone else must decide it.")
    return budget


@transaction.atomic
def budget_approve(*, acting_user, budget: Budget, note: str = "") -> Budget:
    """Approve a waiting request. An approved amendment supersedes the line it amends."""
    budget = _lock_for_decision(acting_user, budget)
    with acting_as(acting_user):
        if budget.amends_id:
            Budget.objects.filter(pk=budget.amends_id, status=Budget.Status.APPROVED).update(
                status=Budget.Status.SUPERSEDED, updated_at=timezone.now()
            )
        budget.status = Budget.Status.APPROVED
        budget.approved_by = acting_user
        budget.decided_at = timezone.now()
        budget.decision_note = note
        budget.save(
            update_fields=["status", "approved_by", "decided_at", "decision_note", "updated_at"]
        )
    return budget


@transaction.atomic
def budget_reject(*, acting_user, budget: Budget, note: str) -> Budget:
    """Reject a waiting request; the reason is required and kept."""
    if not (note or "").strip():
        raise ValidationError({"note": "Say why the budget is rejected."})
    budget = _lock_for_decision(acting_user, budget)
    with acting_as(acting_user):
        budget.status = Budget.Status.REJECTED
        budget.decided_at = timezone.now()
        budget.decision_note = note
        budget.save(update_fields=["status", "decided_at", "decision_note", "updated_at"])
    return budget


@transaction.atomic
def budget_amend(*, acting_user, budget: Budget, amount: Decimal, justification: str) -> Budget:
    """Ask to change an approved line's amount. The approved line stays in force (and in
    history) until the amendment is approved."""
    if budget.status != Budget.Status.APPROVED:
        raise ValidationError("Only an approved budget can be amended.")
    if not (justification or "").strip():
        raise ValidationError({"justification": "Say why the budget changes."})
    amendment = budget_request(
        acting_user=acting_user,
        initiative=budget.initiative,
        fiscal_year=budget.fiscal_year,
        kind=budget.kind,
        category=budget.category,
        amount=amount,
        currency=budget.currency,
        justification=justification,
    )
    amendment.amends = budget
    amendment.save(update_fields=["amends", "updated_at"])
    return amendment
