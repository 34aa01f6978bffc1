"""Finance actions a page may offer (see ``people.permissions``)."""

from __future__ import annotations

from finance.models import Budget
from people.permissions import register
from people.scoping import has_global
from portfolio.models import Initiative


@register("finance.import_spend")
def import_spend(user) -> bool:
    from finance.services import can_import_spend

    return can_import_spend(user)


@register("finance.request_budget")
def request_budget(user) -> bool:
    return has_global(user, "finance.add_budget") or Initiative.objects.editable_by(user).exists()


@register("finance.enter_spend")
def enter_spend(user) -> bool:
    return (
        has_global(user, "finance.add_spendentry") or Initiative.objects.editable_by(user).exists()
    )


@register("finance.decide_budget")
def decide_budget(user, budget: Budget | None = None) -> bool:
    """Approve or reject: finance only (``budget_approve`` also refuses the requester)."""
    if not has_global(user, "finance.approve_budget"):
        return False
    return budget is None or budget.status == Budget.Status.REQUESTED


@register("finance.amend_budget")
def amend_budget(user, budget: Budget) -> bool:
    return has_global(user, "finance.add_budget") or (
        Initiative.objects.editable_by(user).filter(pk=budget.initiative_id).exists()
    )
