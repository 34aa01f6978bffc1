"""The demo's stall story (issue 14), told after ``seed_demo`` has built the portfolio:

- stalled pilots have stall reviews: some overdue (escalated to the accountable executive
  or the PMO by the same chase the periodic task runs), some due soon;
- past kills came out of stall reviews, so decision times (median, p90) per unit exist;
- salvaged assets of some kills were reused by live initiatives (linked);
- this month's scaling scorecard snapshot is stored.

Imports are lazy (this module sits in portfolio, below finance and governance).
"""

from __future__ import annotations

from datetime import timedelta


def tell_the_stall_story(cmd) -> dict:
    from governance.models import GateReview
    from governance.services import gate_review_open_for_stall, stall_decisions_chase
    from people.audit import acting_as
    from portfolio.models import Initiative, StageTransition
    from portfolio.scorecard import snapshot_take

    rng, today, now = cmd.rng, cmd.today, cmd.now
    story = {"overdue": 0, "due_soon": 0, "decided": 0, "reused": 0}

    # Past kills decided through a stall review: asked for N days before the decision.
    kills = list(
        StageTransition.objects.filter(decision__in=["kill", "retire"])
        .select_related("initiative")
        .order_by("decided_at")
    )
    reviews = []
    for t in kills:
        asked = t.decided_at - timedelta(days=rng.randint(6, 75))
        requester = cmd.coe if t.decided_by_id == cmd.pmo.pk else cmd.pmo
        reviews.append(
            GateReview(
                initiative_id=t.initiative_id,
                business_unit_id=t.business_unit_id,
                reason=GateReview.Reason.STALLED,
                from_stage=t.from_stage,
                target_stage=t.from_stage,
                status=GateReview.Status.DECIDED,
                requested_by=requester,
                requested_at=asked,
                request_note="Stalled: decide to advance, hold, pivot, kill or retire.",
                decision_due_on=(asked + timedelta(days=30)).date(),
                decision=t.decision,
                rationale=t.rationale,
                decided_by_id=t.decided_by_id,
                decided_at=t.decided_at,
                transition=t,
            )
        )
    with acting_as(cmd.pmo):
        GateReview.objects.bulk_create(reviews)
    story["decided"] = len(reviews)

    # What the kills left behind, reused by live initiatives of the same unit tree.
    live = list(
        Initiative.objects.filter(stage__in=["initial_production", "scaled_deployment"])
        .select_related("business_unit")
        .order_by("code")
    )
    for t in kills:
        if not t.salvaged:
            continue
        top = t.initiative.business_unit.parent_id or t.initiative.business_unit_id
        reuser = next(
            (i for i in live if (i.business_unit.parent_id or i.business_unit_id) == top), None
        )
        if reuser is not None:
            t.reused_by.add(reuser)
            story["reused"] += 1

    # Stalled pilots: ask for decisions; backdate some so their deadlines have passed.
    stalled = list(
        Initiative.objects.stalled(today=today)
        .filter(stage="proof_of_concept")
        .exclude(gate_reviews__status="open")
        .order_by("stage_entered_at")
    )
    for n, initiative in enumerate(stalled):
        review = gate_review_open_for_stall(acting_user=cmd.pmo, initiative=initiative)
        if n % 3 == 1:
            story["due_soon"] += 1
            continue  # asked recently: due in the policy's days
        asked_days_ago = rng.randint(40, 95)
        GateReview.objects.filter(pk=review.pk).update(
            requested_at=now - timedelta(days=asked_days_ago),
            decision_due_on=today - timedelta(days=asked_days_ago - 30),
        )
        story["overdue"] += 1
    stall_decisions_chase(today=today, send_email=False)
    snapshot_take(month=today)
    cmd.stdout.write(
        f"Stall story: {story['overdue']} overdue stall decisions, {story['due_soon']} due "
        f"soon, {story['decided']} decided, {story['reused']} salvaged assets reused."
    )
    return story
