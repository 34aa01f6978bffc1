"""The allowed stage moves: one table, read by every path that changes a stage.

``TRANSITIONS`` maps ``(decision, from_stage)`` to the stages the decision may take the
initiative to (the first one is the default when the caller does not say). The service
that records every gate decision (``portfolio.services.stage_decide``) refuses anything
else, the database refuses a transition row that is not in the table
(``transition_allowed_move``), and the forms, serializers and templates that offer
decisions ask ``allowed_decisions`` / ``allowed_moves`` so the UI never offers what the
service refuses.

The playbook's rules, as data:

- advance: to the next stage only, and only through a gate review whose mandatory
  criteria are met or waived (``Move.needs_gate``; checked by ``governance.services``);
- hold: keeps the stage;
- pivot: the same stage or an earlier one (a new approach), never forward;
- roll back: an earlier stage;
- kill and retire: end the initiative;
- an ended initiative (killed, retired) does not move again;
- an imported initiative whose stage is unknown may be held, killed or retired; its stage
  is classified by the import, not by a gate.

Imports record ``decision="import"`` rows (what the source says); they are not gate
decisions and are not in this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from portfolio.choices import ACTIVE_STAGES, END_STAGES, Stage


class Decision:
    ADVANCE = "advance"
    HOLD = "hold"
    PIVOT = "pivot"
    KILL = "kill"
    RETIRE = "retire"
    ROLL_BACK = "roll_back"
    IMPORT = "import"


#: The gate decisions, in the order forms list them.
GATE_DECISIONS = (
    Decision.ADVANCE,
    Decision.HOLD,
    Decision.PIVOT,
    Decision.ROLL_BACK,
    Decision.KILL,
    Decision.RETIRE,
)

DECISION_LABELS = {
    Decision.ADVANCE: "Advance",
    Decision.HOLD: "Hold",
    Decision.PIVOT: "Pivot",
    Decision.ROLL_BACK: "Roll back",
    Decision.KILL: "Kill",
    Decision.RETIRE: "Retire",
}


def _build() -> dict[tuple[str, str], tuple[str, ...]]:
    table: dict[tuple[str, str], tuple[str, ...]] = {}
    for i, stage in enumerate(ACTIVE_STAGES):
        earlier = tuple(reversed(ACTIVE_STAGES[:i]))  # nearest first
        if i + 1 < len(ACTIVE_STAGES):
            table[(Decision.ADVANCE, stage)] = (ACTIVE_STAGES[i + 1],)
        table[(Decision.HOLD, stage)] = (stage,)
        # Default pivot: back to proof of concept (a new approach), else stay.
        pivots = (Stage.PROOF_OF_CONCEPT,) + tuple(
            s for s in (stage, *earlier) if s != Stage.PROOF_OF_CONCEPT
        )
        table[(Decision.PIVOT, stage)] = pivots
        if earlier:
            table[(Decision.ROLL_BACK, stage)] = earlier
        table[(Decision.KILL, stage)] = (Stage.KILLED,)
        table[(Decision.RETIRE, stage)] = (Stage.RETIRED,)
    table[(Decision.HOLD, Stage.UNKNOWN)] = (Stage.UNKNOWN,)
    table[(Decision.KILL, Stage.UNKNOWN)] = (Stage.KILLED,)
    table[(Decision.RETIRE, Stage.UNKNOWN)] = (Stage.RETIRED,)
    return table


#: (decision, from_stage) -> allowed to_stages, the default first.
TRANSITIONS: dict[tuple[str, str], tuple[str, ...]] = _build()

#: Decisions that move forward and therefore need a passed gate review.
NEEDS_GATE = frozenset({Decision.ADVANCE})


@dataclass(frozen=True)
class Move:
    decision: str
    from_stage: str
    to_stage: str

    @property
    def needs_gate(self) -> bool:
        return self.decision in NEEDS_GATE

    @property
    def label(self) -> str:
        to = Stage(self.to_stage).label
        if self.decision == Decision.HOLD:
            return f"Hold in {to}"
        if self.decision in (Decision.KILL, Decision.RETIRE):
            return DECISION_LABELS[self.decision]
        return f"{DECISION_LABELS[self.decision]} to {to}"


def allowed_moves(stage: str, decisions=GATE_DECISIONS) -> list[Move]:
    """Every move the table allows from ``stage`` (optionally only some decisions), in
    form order, the default target of each decision first."""
    return [
        Move(decision, stage, to)
        for decision in decisions
        for to in TRANSITIONS.get((decision, stage), ())
    ]


def allowed_decisions(stage: str) -> list[str]:
    """The decisions that can be taken on an initiative in ``stage`` (empty once ended)."""
    return [d for d in GATE_DECISIONS if (d, stage) in TRANSITIONS]


def default_target(decision: str, stage: str) -> str | None:
    targets = TRANSITIONS.get((decision, stage))
    return targets[0] if targets else None


def describe_allowed(stage: str) -> str:
    """What may be decided from ``stage``, in words (for refusals)."""
    if stage in END_STAGES:
        return f"The initiative is {Stage(stage).label.lower()}; it does not move again."
    moves = allowed_moves(stage)
    return (
        "Allowed from "
        + Stage(stage).label.lower()
        + ": "
        + "; ".join(m.label for m in moves)
        + "."
    )


def check_move(decision: str, from_stage: str, to_stage: str | None) -> str:
    """The stage ``decision`` takes an initiative in ``from_stage`` to (``to_stage``, or
    the decision's default when None). Raises ``ValidationError`` naming what is allowed."""
    from django.core.exceptions import ValidationError

    if decision not in GATE_DECISIONS:
        raise ValidationError(
            {"decision": f"Unknown decision {decision!r}. " + describe_allowed(from_stage)}
        )
    targets = TRANSITIONS.get((decision, from_stage))
    if not targets:
        raise ValidationError(
            {
                "decision": f"{DECISION_LABELS[decision]} is not possible from "
                f"{Stage(from_stage).label.lower()}. " + describe_allowed(from_stage)
            }
        )
    if not to_stage:
        return targets[0]
    if to_stage not in targets:
        allowed = ", ".join(Stage(t).label.lower() for t in targets)
        raise ValidationError(
            {
                "to_stage": f"{DECISION_LABELS[decision]} from {Stage(from_stage).label.lower()} "
                f"goes to {allowed}, not {Stage(to_stage).label.lower() if to_stage in Stage.values else to_stage}."
            }
        )
    return to_stage


def allowed_move_condition() -> Q:
    """The table as a check-constraint condition on ``StageTransition`` rows."""
    condition = Q(decision=Decision.IMPORT)
    for (decision, from_stage), targets in sorted(TRANSITIONS.items()):
        condition |= Q(decision=decision, from_stage=from_stage, to_stage__in=list(targets))
    return condition
