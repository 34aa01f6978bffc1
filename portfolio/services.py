"""Writes on initiatives that do more than save a form."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from people.audit import acting_as
from people.errors import SeparationOfDutiesError
from people.models import BusinessUnit
from people.scoping import has_global, unit_ids_for
from portfolio.choices import END_STAGES
from portfolio.models import KPI, Assignment, Initiative, Measurement, StageTransition
from portfolio.transitions import NEEDS_GATE, allowed_decisions, allowed_moves, check_move

__all__ = ["allowed_decisions", "allowed_moves", "check_move", "stage_decide", "target_stage"]

Decision = StageTransition.Decision


def can_decide_gate(user, initiative: Initiative) -> bool:
    """PMO and CoE decide any gate; a unit lead decides gates in their own units."""
    return has_global(user, "portfolio.decide_gate") or (
        initiative.business_unit_id in unit_ids_for(user, "manage")
    )


def target_stage(initiative: Initiative, decision: str, to_stage: str | None = None) -> str:
    """Where ``decision`` takes the initiative: ``to_stage`` if the transition table
    (``portfolio.transitions``) allows it, the decision's default when not given.
    Raises ``ValidationError`` saying what is allowed otherwise."""
    return check_move(decision, initiative.stage, to_stage)


def held_role_since(*, initiative_id: int, role: str, user_id: int, since) -> bool:
    """Whether ``user_id`` held ``role`` on the initiative at ``since`` or at any time
    after it, read from the assignments' audit trail (so a role handed to a colleague and
    taken back still counts), or holds it now."""
    if Assignment.objects.filter(initiative_id=initiative_id, role=role, user_id=user_id).exists():
        return True
    events = apps.get_model("portfolio", "AssignmentEvent").objects.filter(
        initiative_id=initiative_id, role=role
    )
    if events.filter(pgh_created_at__gte=since, user_id=user_id).exists():
        return True
    last = events.filter(pgh_created_at__lt=since).order_by("-pgh_created_at", "-pgh_id").first()
    return last is not None and last.pgh_label != "delete" and last.user_id == user_id


def owner_candidates(initiative: Initiative):
    """Who may hold an accountability role on the initiative: the one rule for people
    named on a record (``people.selectors.people_for_units``) applied to its unit. The
    owners form, the assignments API, the admin (``Assignment.clean``) and a move
    (:func:`move_owner_problems`) all ask it."""
    from people.selectors import people_for_units

    return people_for_units([initiative.business_unit_id])


def owner_problem(initiative: Initiative, user) -> str:
    """Why ``user`` cannot hold a role on ``initiative`` ("" if they can)."""
    if user is None or not owner_candidates(initiative).filter(pk=user.pk).exists():
        return (
            "This person cannot be given a role here: they have no access to the initiative's unit."
        )
    return ""


def on_team(user, initiative: Initiative) -> bool:
    """Whether ``user`` is on the initiative's team: a member of its unit (or a parent
    unit), or named on one of its accountability roles."""
    if user is None or not user.is_authenticated:
        return False
    return initiative.business_unit_id in unit_ids_for(user, "view") or (
        Assignment.objects.filter(initiative_id=initiative.pk, user_id=user.pk).exists()
    )


def _check_gate_passed(initiative: Initiative, review_id: int | None, new_stage: str) -> None:
    """A forward move needs the initiative's open gate review into ``new_stage`` with no
    mandatory criterion unmet and unwaived. Read through the reverse relations governance
    declares on ``Initiative`` (``gate_reviews``, their ``criteria`` and ``waivers``), so
    portfolio imports nothing from governance."""
    refusal = ValidationError(
        {"decision": "Advancing needs a gate review into the next stage; request one first."}
    )
    if review_id is None:
        raise refusal
    reviews = Initiative.objects.filter(
        pk=initiative.pk,
        gate_reviews__pk=review_id,
        gate_reviews__status="open",
        gate_reviews__target_stage=new_stage,
    )
    if not reviews.exists():
        raise refusal
    blocking = set(
        Initiative.objects.filter(
            pk=initiative.pk,
            gate_reviews__pk=review_id,
            gate_reviews__criteria__mandatory=True,
            gate_reviews__criteria__met=False,
        ).values_list("gate_reviews__criteria__standard_id", flat=True)
    )
    if blocking:
        waived = set(
            Initiative.objects.filter(
                pk=initiative.pk, gate_reviews__pk=review_id, gate_reviews__waivers__isnull=False
            ).values_list("gate_reviews__waivers__standard_id", flat=True)
        )
        if blocking - waived:
            raise ValidationError(
                {"decision": "Mandatory gate criteria are unmet and not waived; it cannot advance."}
            )


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
    gate_review_id: int | None = None,
) -> StageTransition:
    """Record a gate decision and move the initiative.

    The caller can rely on: the decider may decide this gate and is not the
    initiative's requirements owner; a rationale is given; the move is in the
    transition table (``portfolio.transitions``); a forward move (advance) is made only
    through the open gate review ``gate_review_id`` into that stage, every mandatory
    criterion of which is met or waived; the transition and the initiative's new stage
    are written together, attributed to ``acting_user``. ``governance.services.gate_decide``
    is the one caller: it computes the checklist and records the waivers first.
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
    if decision in NEEDS_GATE:
        _check_gate_passed(initiative, gate_review_id, new_stage)
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
            initiative.stage_date_known = True
            fields += ["stage", "stage_entered_at", "stage_date_known"]
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


# --- Moving an initiative to another unit ------------------------------------------------

#: Sent inside the move's transaction, after every dependent row carries the new unit:
#: ``sender=Initiative, initiative, from_unit_id, to_unit_id, acting_user``. Maintained
#: summary tables keyed by unit (spend rollups, ...) connect here to move their totals
#: in the same transaction.
initiative_moved = Signal()

#: How far :func:`initiative_dependents` follows foreign keys from a row to its initiative
#: (Measurement -> KPI -> Initiative is 2; GateCriterionResult -> GateReview -> Initiative).
_MAX_DEPTH = 3


def _path_to_initiative(model, depth: int = _MAX_DEPTH) -> str | None:
    """The shortest lookup from ``model`` to its initiative ("initiative", "kpi__initiative"),
    following many-to-one keys only; None when it does not belong to one."""
    frontier: list[tuple[type, str]] = [(model, "")]
    seen = {model}
    for _ in range(depth):
        nxt = []
        for current, prefix in frontier:
            for field in current._meta.concrete_fields:
                if not (field.is_relation and field.many_to_one):
                    continue
                related = field.related_model
                path = f"{prefix}{field.name}"
                if related is Initiative:
                    return path
                if related in seen or related is BusinessUnit or related._meta.app_label == "auth":
                    continue
                seen.add(related)
                nxt.append((related, f"{path}__"))
        frontier = nxt
    return None


def initiative_dependents() -> list[tuple[type, str]]:
    """Every model that copies its initiative's ``business_unit`` (found by introspection:
    a ``business_unit`` foreign key and a chain of foreign keys to ``Initiative``), with
    the lookup from it to the initiative. A new model with a denormalised unit is picked
    up without anyone remembering to add it. Audit event tables are history: they keep
    the unit the row had at the time."""
    import pghistory.models

    found = []
    for model in apps.get_models():
        if model is Initiative or issubclass(model, pghistory.models.Event):
            continue
        if model._meta.proxy or not model._meta.managed:
            continue
        try:
            unit = model._meta.get_field("business_unit")
        except FieldDoesNotExist:
            continue
        if not (unit.many_to_one and unit.related_model is BusinessUnit):
            continue
        if not unit.db_constraint:
            # A maintained summary table (spend rollups): its rows follow the source rows
            # through their own triggers when the move updates those rows.
            continue
        path = _path_to_initiative(model)
        if path is not None:
            found.append((model, path))
    return sorted(found, key=lambda pair: pair[0]._meta.label)


def can_move_initiative(user, initiative: Initiative, business_unit: BusinessUnit) -> bool:
    """The user may change the initiative and add initiatives to the target unit."""
    return _may_move(user, initiative.business_unit_id, business_unit.pk)


def _may_move(user, from_unit_id: int, to_unit_id: int) -> bool:
    if has_global(user, "portfolio.change_initiative"):
        return True
    units = unit_ids_for(user, "change")
    return from_unit_id in units and to_unit_id in units


def move_owner_problems(moves: dict[int, int]) -> dict[int, str]:
    """Why each move in ``moves`` (initiative id -> target unit id) cannot happen: an
    initiative whose owners include someone who could not be chosen as an owner in the
    target unit (``people.selectors.people_for_units``, the one rule for people named on
    a record) is not moved; its owners are reassigned or cleared first. One query per
    target unit. Moves with no problem are absent from the answer."""
    from collections import defaultdict

    from people.selectors import people_for_units

    by_unit: dict[int, list[int]] = defaultdict(list)
    for initiative_id, unit_id in moves.items():
        by_unit[unit_id].append(initiative_id)
    stranded: dict[int, list[str]] = defaultdict(list)
    for unit_id, ids in by_unit.items():
        rows = (
            Assignment.objects.filter(initiative_id__in=ids)
            .exclude(user__in=people_for_units([unit_id]).values("pk"))
            .select_related("user")
            .order_by("initiative_id", "role")
        )
        for a in rows:
            who = a.user.get_full_name() or a.user.get_username()
            stranded[a.initiative_id].append(f"{a.get_role_display()} ({who})")
    return {
        initiative_id: (
            "Its owners must have access to the new unit: reassign or clear "
            f"{', '.join(roles)} first."
        )
        for initiative_id, roles in stranded.items()
    }


def _carry(by_unit: dict[int, list[int]], now) -> None:
    """Set-based: per target unit, one UPDATE of the initiatives and one per dependent model."""
    dependents = initiative_dependents()
    for unit_id, ids in by_unit.items():
        Initiative.objects.filter(pk__in=ids).exclude(business_unit_id=unit_id).update(
            business_unit_id=unit_id, updated_at=now
        )
        for model, path in dependents:
            model._base_manager.filter(**{f"{path}__in": ids}).exclude(
                business_unit_id=unit_id
            ).update(business_unit_id=unit_id)


@transaction.atomic
def initiatives_move(*, acting_user, moves: dict[int, int]) -> dict[int, str]:
    """Move many initiatives (id -> target unit id) with every row that belongs to them.

    The caller can rely on: every initiative that moves carries its dependent rows (see
    :func:`initiative_dependents`) to its new unit in this transaction, with a bounded
    number of statements (per target unit, one per dependent model), and
    :data:`initiative_moved` is sent for each. An initiative whose owners could not be
    named in the target unit stays where it is; the answer maps its id to the reason
    (:func:`move_owner_problems`). ``PermissionDenied`` (and nothing moves) when
    ``acting_user`` may not move one of them; ``acting_user=None`` is the command line's
    operator (an inventory import run by ``manage.py``). Statements are on the audit
    trail as ``acting_user``.
    """
    from collections import defaultdict

    locked = {
        i.pk: i
        for i in Initiative.objects.select_for_update().filter(pk__in=list(moves)).order_by("pk")
    }
    wanted = {
        pk: unit_id
        for pk, unit_id in moves.items()
        if pk in locked and locked[pk].business_unit_id != unit_id
    }
    if acting_user is not None:
        for pk, unit_id in wanted.items():
            if not _may_move(acting_user, locked[pk].business_unit_id, unit_id):
                raise PermissionDenied("You may not move this initiative to that unit.")
    refused = move_owner_problems(wanted)
    by_unit: dict[int, list[int]] = defaultdict(list)
    for pk, unit_id in wanted.items():
        if pk not in refused:
            by_unit[unit_id].append(pk)
    if not by_unit:
        return refused
    with acting_as(acting_user):
        _carry(by_unit, timezone.now())
        for unit_id, ids in by_unit.items():
            for pk in ids:
                from_unit_id = locked[pk].business_unit_id
                locked[pk].business_unit_id = unit_id
                initiative_moved.send(
                    sender=Initiative,
                    initiative=locked[pk],
                    from_unit_id=from_unit_id,
                    to_unit_id=unit_id,
                    acting_user=acting_user,
                )
    return refused


@transaction.atomic
def initiative_move(
    *, acting_user, initiative: Initiative, business_unit: BusinessUnit
) -> Initiative:
    """Move ``initiative`` to ``business_unit`` with every row that belongs to it.

    The caller can rely on: the initiative and every dependent row (KPIs, measurements,
    budgets, spend, AI systems, model versions, incidents, owners, assessments,
    attestations, gate reviews, stage history... see :func:`initiative_dependents`) carry
    the new unit when this returns, in one transaction, so the old unit's people lose
    them and the new unit's people see them at once; or nothing moves: a user who may
    not change the initiative or add initiatives to the target unit gets
    ``PermissionDenied``, and an initiative whose owners have no access to the target
    unit gets ``ValidationError`` on ``business_unit`` naming them (the same for the
    web form, the API, the admin and the inventory import: :func:`initiatives_move`).
    """
    if not Initiative.objects.filter(pk=initiative.pk).exists():
        raise Initiative.DoesNotExist("No such initiative.")
    refused = initiatives_move(acting_user=acting_user, moves={initiative.pk: business_unit.pk})
    if refused:
        raise ValidationError({"business_unit": refused[initiative.pk]})
    locked = Initiative.objects.get(pk=initiative.pk)
    initiative.business_unit_id = locked.business_unit_id
    return locked
