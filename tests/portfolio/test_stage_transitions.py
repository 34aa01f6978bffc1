"""The transition table (portfolio.transitions) holds on every path: every decision x
from-stage x to-stage is tried through the service, the API and the database."""

from __future__ import annotations

import itertools

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from governance.models import GateCriterionResult, GateReview
from governance.services import gate_decide
from portfolio.choices import Stage
from portfolio.models import Initiative, StageTransition
from portfolio.services import stage_decide
from portfolio.transitions import (
    GATE_DECISIONS,
    TRANSITIONS,
    allowed_decisions,
    allowed_moves,
    check_move,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


STAGES = list(Stage.values)
COMBOS = list(itertools.product(GATE_DECISIONS, STAGES, STAGES))


class _Rollback(Exception):
    pass


def _expected(decision, from_stage, to_stage) -> bool:
    return to_stage in TRANSITIONS.get((decision, from_stage), ())


def test_the_table_says_the_playbook():
    order = ["proof_of_concept", "initial_production", "scaled_deployment", "institutional"]
    for i, stage in enumerate(order):
        nxt = order[i + 1 : i + 2]
        assert list(TRANSITIONS.get(("advance", stage), ())) == nxt
        assert TRANSITIONS[("hold", stage)] == (stage,)
        assert set(TRANSITIONS[("pivot", stage)]) == set(order[: i + 1])  # never forward
        assert set(TRANSITIONS.get(("roll_back", stage), ())) == set(order[:i])  # earlier
        assert TRANSITIONS[("kill", stage)] == ("killed",)
        assert TRANSITIONS[("retire", stage)] == ("retired",)
    for ended in ("killed", "retired"):
        assert allowed_decisions(ended) == [] and allowed_moves(ended) == []
    assert allowed_decisions("proof_of_concept") == ["advance", "hold", "pivot", "kill", "retire"]
    assert [m.to_stage for m in allowed_moves("initial_production", ["roll_back"])] == [
        "proof_of_concept"
    ]


def test_a_refusal_says_what_is_allowed():
    with pytest.raises(ValidationError) as exc:
        check_move("pivot", "proof_of_concept", "institutional")
    assert "Pivot from proof of concept goes to proof of concept" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        check_move("roll_back", "proof_of_concept", None)
    assert "Allowed from proof of concept: Advance to Initial production" in str(exc.value)


def test_every_decision_from_every_stage_to_every_stage_through_the_service(unit_a, pmo):
    initiative = f.InitiativeFactory(business_unit=unit_a)
    for decision, from_stage, to_stage in COMBOS:
        Initiative.objects.filter(pk=initiative.pk).update(stage=from_stage)
        initiative.refresh_from_db()
        try:
            with transaction.atomic():
                # An open gate review into to_stage with nothing blocking: the only way
                # forward (without it, advance is refused: tested below).
                review_id = f.GateReviewFactory(
                    initiative=initiative, from_stage=from_stage, target_stage=to_stage
                ).pk
                try:
                    t = stage_decide(
                        acting_user=pmo,
                        initiative=initiative,
                        decision=decision,
                        rationale="Enumerated.",
                        to_stage=to_stage,
                        gate_review_id=review_id,
                    )
                except ValidationError:
                    assert not _expected(decision, from_stage, to_stage), (
                        decision,
                        from_stage,
                        to_stage,
                    )
                    assert Initiative.objects.get(pk=initiative.pk).stage == from_stage
                else:
                    assert _expected(decision, from_stage, to_stage), (
                        decision,
                        from_stage,
                        to_stage,
                    )
                    assert (t.from_stage, t.to_stage) == (from_stage, to_stage)
                    assert Initiative.objects.get(pk=initiative.pk).stage == to_stage
                raise _Rollback
        except _Rollback:
            pass


def test_every_decision_from_every_stage_to_every_stage_through_the_api(unit_a, lead_a, api):
    """POST /api/v1/stage-transitions/ as the unit's lead, on an open gate review whose
    checklist is empty (nothing blocks an advance)."""
    client = api(lead_a)
    initiative = f.InitiativeFactory(business_unit=unit_a)
    for decision, from_stage, to_stage in COMBOS:
        Initiative.objects.filter(pk=initiative.pk).update(stage=from_stage)
        order = list(Stage.values).index(from_stage)
        target = (
            Stage.values[order + 1]
            if from_stage in ("proof_of_concept", "initial_production", "scaled_deployment")
            else from_stage
        )
        try:
            with transaction.atomic():
                f.GateReviewFactory(
                    initiative=initiative, from_stage=from_stage, target_stage=target
                )
                response = client.post(
                    "/api/v1/stage-transitions/",
                    {
                        "initiative": initiative.pk,
                        "decision": decision,
                        "to_stage": to_stage,
                        "rationale": "Enumerated.",
                    },
                    format="json",
                )
                ok = _expected(decision, from_stage, to_stage)
                assert response.status_code == (201 if ok else 400), (
                    decision,
                    from_stage,
                    to_stage,
                    response.content,
                )
                stage = Initiative.objects.get(pk=initiative.pk).stage
                assert stage == (to_stage if ok else from_stage)
                raise _Rollback
        except _Rollback:
            pass


def test_pivot_to_institutional_from_a_new_pilot_is_refused_through_the_api(
    initiative_a, lead_a, api
):
    """The issue's reproduction: lead-retail, decision=pivot, to_stage=institutional."""
    f.GateReviewFactory(initiative=initiative_a)
    response = api(lead_a).post(
        "/api/v1/stage-transitions/",
        {
            "initiative": initiative_a.pk,
            "decision": "pivot",
            "to_stage": "institutional",
            "rationale": "Skip the queue.",
        },
        format="json",
    )
    assert response.status_code == 400
    assert {"to_stage", "decision"} & set(response.json()["fields"])
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "proof_of_concept"
    assert not StageTransition.objects.filter(initiative=initiative_a).exists()


def test_advance_needs_a_gate_review_into_the_next_stage(initiative_a, pmo):
    with pytest.raises(ValidationError, match="gate review"):
        stage_decide(acting_user=pmo, initiative=initiative_a, decision="advance", rationale="x")
    closed = f.GateReviewFactory(initiative=initiative_a, status="withdrawn")
    with pytest.raises(ValidationError, match="gate review"):
        stage_decide(
            acting_user=pmo,
            initiative=initiative_a,
            decision="advance",
            rationale="x",
            gate_review_id=closed.pk,
        )
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "proof_of_concept"


def test_advance_is_refused_while_a_mandatory_criterion_is_unmet_and_unwaived(initiative_a, pmo):
    review = f.GateReviewFactory(initiative=initiative_a)
    row = f.GateCriterionResultFactory(review=review, mandatory=True, met=False)
    with pytest.raises(ValidationError, match="unmet"):
        stage_decide(
            acting_user=pmo,
            initiative=initiative_a,
            decision="advance",
            rationale="x",
            gate_review_id=review.pk,
        )
    f.WaiverFactory(review=review, standard=row.standard, granted_by=pmo)
    t = stage_decide(
        acting_user=pmo,
        initiative=initiative_a,
        decision="advance",
        rationale="x",
        gate_review_id=review.pk,
    )
    assert t.to_stage == "initial_production"
    assert GateCriterionResult.objects.filter(review=review).count() == 1


def test_gate_decide_refuses_a_forward_pivot_and_keeps_the_review_open(initiative_a, lead_a):
    review = f.GateReviewFactory(initiative=initiative_a, from_stage="proof_of_concept")
    with pytest.raises(ValidationError, match="Pivot"):
        gate_decide(
            acting_user=lead_a,
            review=review,
            decision="pivot",
            rationale="x",
            to_stage="scaled_deployment",
        )
    assert GateReview.objects.get(pk=review.pk).status == "open"


def test_the_database_refuses_a_move_outside_the_table(initiative_a, pmo):
    with pytest.raises(IntegrityError), transaction.atomic():
        StageTransition.objects.create(
            initiative=initiative_a,
            business_unit=initiative_a.business_unit,
            from_stage="proof_of_concept",
            to_stage="institutional",
            decision="pivot",
            rationale="Bulk write.",
            decided_by=pmo,
        )
    # Imports record what the source says.
    StageTransition.objects.create(
        initiative=initiative_a,
        business_unit=initiative_a.business_unit,
        from_stage="unknown",
        to_stage="institutional",
        decision="import",
        rationale="Imported.",
    )


def test_the_gate_form_offers_only_what_the_table_allows(initiative_a):
    from governance.forms import GateDecisionForm

    review = f.GateReviewFactory(initiative=initiative_a)
    form = GateDecisionForm(review=review)
    assert [c for c, _ in form.fields["decision"].choices] == allowed_decisions("proof_of_concept")
    assert [c for c, _ in form.fields["to_stage"].choices] == ["", "proof_of_concept"]
    incident = f.GateReviewFactory(
        initiative=f.InitiativeFactory(
            business_unit=initiative_a.business_unit, stage="scaled_deployment"
        ),
        reason="incident",
        from_stage="scaled_deployment",
        target_stage="scaled_deployment",
    )
    form = GateDecisionForm(review=incident)
    assert [c for c, _ in form.fields["decision"].choices] == [
        "hold",
        "roll_back",
        "kill",
        "retire",
    ]


def test_the_web_gate_decision_refuses_a_forward_pivot(initiative_a, lead_a, client):
    review = f.GateReviewFactory(initiative=initiative_a)
    client.force_login(lead_a)
    response = client.post(
        f"/governance/gates/{review.pk}/decide/",
        {"decision": "pivot", "to_stage": "institutional", "rationale": "x"},
    )
    assert response.status_code == 400
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "proof_of_concept"
