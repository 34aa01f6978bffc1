"""The gate page offers the decisions the transition table allows from the review's stage,
and names only stages the table allows (#16: "Pivot (back to proof of concept)" was
offered on a proof-of-concept gate)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from portfolio.choices import ACTIVE_STAGES, Stage
from portfolio.transitions import TRANSITIONS, allowed_decisions
from tests import factories as f

pytestmark = pytest.mark.django_db

STAGE_NAMES = {label.lower() for _, label in Stage.choices}


def _select(html: str, name: str) -> list[tuple[str, str]]:
    block = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert block, f"no <select name={name!r}> on the page"
    return [
        (value, re.sub(r"\s+", " ", text).strip())
        for value, text in re.findall(
            r'<option value="([^"]*)"[^>]*>(.*?)</option>', block[1], re.S
        )
    ]


def _stages_named(text: str) -> set[str]:
    return {name for name in STAGE_NAMES if name in text.lower()}


@pytest.mark.parametrize("stage", [*ACTIVE_STAGES, Stage.UNKNOWN])
def test_the_rendered_decision_form_offers_what_the_table_allows_from_each_stage(
    client, pmo, unit_a, stage
):
    initiative = f.InitiativeFactory(business_unit=unit_a, stage=stage)
    at = ACTIVE_STAGES.index(stage) if stage in ACTIVE_STAGES else len(ACTIVE_STAGES)
    following = ACTIVE_STAGES[at + 1 : at + 2]
    review = f.GateReviewFactory(
        initiative=initiative,
        from_stage=stage,
        target_stage=following[0] if following else stage,
    )
    client.force_login(pmo)
    html = client.get(reverse("governance:gate_review_detail", args=[review.pk])).content.decode()

    decisions = _select(html, "decision")
    assert [value for value, _ in decisions] == allowed_decisions(stage)
    for decision, label in decisions:
        if decision in ("pivot", "roll_back"):
            # The label names exactly the stages the table allows for that decision.
            assert _stages_named(label) == {
                Stage(s).label.lower() for s in TRANSITIONS[(decision, stage)]
            }, (stage, label)
    to_stages = [value for value, _ in _select(html, "to_stage") if value]
    assert set(to_stages) == {
        s for d in ("pivot", "roll_back") for s in TRANSITIONS.get((d, stage), ())
    }


def test_a_proof_of_concept_gate_never_offers_going_back(client, pmo, initiative_a):
    review = f.GateReviewFactory(initiative=initiative_a)
    client.force_login(pmo)
    html = client.get(reverse("governance:gate_review_detail", args=[review.pk])).content.decode()
    labels = dict(_select(html, "decision"))
    assert "roll_back" not in labels
    assert labels["pivot"] == "Pivot (a new approach, in proof of concept)"
    assert "back" not in labels["pivot"].lower() and "earlier" not in labels["pivot"].lower()
    assert [v for v, _ in _select(html, "to_stage")] == ["", "proof_of_concept"]
