"""Writes on initiatives that do more than save a form."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from people.audit import acting_as
from people.errors import SeparationOfDutiesError
from people.scoping import has_global, unit_ids_for
from portfolio.choices import ACTIVE_STAGES, END_STAGES, STAGE_ORDER, Stage
from portfolio.models import KPI, Assignment, Initiative, Measurement, StageTransition

Decision = StageTransition.Decision


def can_decide_gate(user, initiative: Initiative) -> bool:
    """PMO and CoE decide any gate; a unit lead decides gates in their own units."""
    return has_global(user, "portfolio.decide_gate") or (
        initiative.business_unit_id in unit_ids_for(user, "manage")
    )


def target_stage(initiative: Initiative, decision: str, to_stage: str | None = None) -> str:
    """Where a decision takes the initiative. ``to_stage`` only matters for a pivot."""
    current = initiative.stage
    if decision == Decision.KILL:
        return Stage.KILLED
    if decision == Decision.RETIRE:
        return Stage.RETIRED
    if current in END_STAGES:
        raise ValidationError({"decision": f"The initiative is already {current}; it cannot move."})
    if decision == Decision.HOLD:
        return current
    if decision == Decision.PIVOT:
        return to_stage or Stage.PROOF_OF_CONCEPT
    order = STAGE_ORDER.get(current)
    if decision == Decision.ADVANCE:
        if current == Stage.UNKNOWN:
            if not to_stage:
                raise ValidationError({"to_stage": "Say which stage this initiative is in."})
            return to_stage
        if order is None or order + 1 >= len(ACTIVE_STAGES):
            raise ValidationError({"decision": "The initiative is already institutional."})
        return ACTIVE_STAGES[order + 1]
    if decision == Decision.ROLL_BACK:
        if not order:
            raise ValidationError({"decision": "There is no earlier stage to roll back to."})
        return ACTIVE_STAGES[order - 1]
    raise ValidationError({"decision": f"Unknown decision {decision!r}."})


@transaction.atomic
def stage_decide(
    *,
    acting_user,
    initiative: Initiative,
    decision: str,
    rationale: str,
    to_stage: str | None = None,
    sunk_cost: Decimal | None = None,
    sunk_cost_currency: str = "",
    salvaged: str = "",
    lessons: str = "",
) -> StageTransition:
    """Record a gate decision and move the initiative.

    The caller can rely on: the decider may decide this gate and is not the
    initiative's requirements owner; a rationale is given; the transition and the
    initiative's new stage are written together, attributed to ``acting_user``.
    Governance checks (criteria, waivers) wrap this in ``governance.services``.
    """
    initiative = Initiative.objects.select_for_update().get(pk=initiative.pk)
    if not can_decide_gate(acting_user, initiative):
        raise PermissionDenied("You may not decide gates for this initiative.")
    if Assignment.objects.filter(
        initiative=initiative, role=Assignment.Role.REQUIREMENTS_OWNER, user=acting_user
    ).exists():
        raise SeparationOfDutiesError(
            "You are this initiative's requirements owner, so someone else must decide its gate."
        )
    rationale = (rationale or "").strip()
    if not rationale:
        raise ValidationError({"rationale": "Give the reason for this decision."})
    new_stage = target_stage(initiative, decision, to_stage)
    # A sunk cost is money: it keeps the currency it was incurred in (a EUR 100,000 kill
    # is not "USD 100,000"); reports convert it, the original stays.
    if sunk_cost is not None:
        if not sunk_cost_currency:
            raise ValidationError({"sunk_cost_currency": "Say which currency the sunk cost is in."})
        if sunk_cost_currency not in settings.CURRENCIES:
            raise ValidationError(
                {"sunk_cost_currency": f"{sunk_cost_currency} is not one of {settings.CURRENCIES}."}
            )
    else:
        sunk_cost_currency = ""
    now = timezone.now()
    with acting_as(acting_user):
        transition = StageTransition.objects.create(
            initiative=initiative,
            business_unit_id=initiative.business_unit_id,
            from_stage=initiative.stage,
            to_stage=new_stage,
            decision=decision,
            rationale=rationale,
            decided_by=acting_user,
            decided_at=now,
            sunk_cost=sunk_cost,
            sunk_cost_currency=sunk_cost_currency,
            salvaged=salvaged,
            lessons=lessons,
        )
        fields = ["updated_at"]
        if new_stage != initiative.stage:
            initiative.stage = new_stage
            initiative.stage_entered_at = now
            fields += ["stage", "stage_entered_at"]
            if new_stage in END_STAGES:
                initiative.status = Initiative.Status.CLOSED
                fields.append("status")
        initiative.save(update_fields=fields)
    return transition


@transaction.atomic
def measurement_record(
    *, acting_user, kpi: KPI, measured_on: date, value: Decimal, note: str = ""
) -> Measurement:
    """Record (or correct) a KPI's value for a day; counts as activity on the initiative."""
    if not KPI.objects.editable_by(acting_user).filter(pk=kpi.pk).exists():
        raise PermissionDenied("You may not record measurements for this KPI.")
    with acting_as(acting_user):
        measurement, _ = Measurement.objects.update_or_create(
            kpi=kpi,
            measured_on=measured_on,
            defaults={
                "value": value,
                "note": note,
                "recorded_by": acting_user,
                "business_unit_id": kpi.business_unit_id,
            },
        )
    return measurement


@transaction.atomic
def salvage_reuse_record(
    *, acting_user, transition: StageTransition, initiative: Initiative
) -> StageTransition:
    """Record that ``initiative`` reused what a kill or retirement salvaged. The caller can
    rely on: the kill is visible to the acting user (else ``DoesNotExist``), the reusing
    initiative is theirs to change (else ``PermissionDenied``), and the link is written
    once (the transition itself stays as decided: the stage history is append-only)."""
    if not StageTransition.objects.visible_to(acting_user).filter(pk=transition.pk).exists():
        raise StageTransition.DoesNotExist("No such decision.")
    if transition.decision not in (Decision.KILL, Decision.RETIRE):
        raise ValidationError({"transition": "Only a kill or a retirement leaves salvage."})
    if not Initiative.objects.editable_by(acting_user).filter(pk=initiative.pk).exists():
        raise PermissionDenied("You may not change that initiative.")
    if initiative.pk == transition.initiative_id:
        raise ValidationError({"initiative": "An initiative does not reuse its own salvage."})
    with acting_as(acting_user):
        transition.reused_by.add(initiative)
    return transition
