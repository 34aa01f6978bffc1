"""Portfolio actions a page may offer (see ``people.permissions``)."""

from __future__ import annotations

from people.models import BusinessUnit
from people.permissions import register
from portfolio.models import Initiative
from portfolio.services import can_decide_gate


@register("portfolio.create_initiative")
def create_initiative(user) -> bool:
    return BusinessUnit.objects.editable_by(user).exists()


@register("portfolio.edit_initiative")
def edit_initiative(user, initiative: Initiative) -> bool:
    return Initiative.objects.editable_by(user).filter(pk=initiative.pk).exists()


@register("portfolio.decide_gate")
def decide_gate(user, initiative: Initiative) -> bool:
    return initiative.stage not in ("retired", "killed") and can_decide_gate(user, initiative)


@register("portfolio.see_unit")
def see_unit(user, unit: BusinessUnit) -> bool:
    return BusinessUnit.objects.visible_to(user).filter(pk=unit.pk).exists()
