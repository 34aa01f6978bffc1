"""Governance decisions with separation of duties."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import DateField, F, Func, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from governance.checks import RULES
from governance.models import (
    AccessReview,
    AccessReviewItem,
    Control,
    GateCriterionResult,
    GateReview,
    Incident,
    ModelVersion,
    RiskAssessment,
    Standard,
    Waiver,
)
from governance.selectors import Checklist, compute_checklist
from people.audit import acting_as
from people.errors import SeparationOfDutiesError
from people.models import BusinessUnit, UnitMembership
from people.roles import PMO
from people.scoping import has_global, unit_ids_for
from people.services import membership_revoke
from portfolio.choices import ACTIVE_STAGES, STAGE_ORDER, RiskTier, Stage
from portfolio.models import Assignment, Initiative, StagePolicy, StageTransition
from portfolio.services import can_decide_gate, stage_decide


@transaction.atomic
def model_version_promote(*, acting_user, model_version: ModelVersion) -> ModelVersion:
    """Approve a model version for production. The approver is never its creator; the
    version previously in production for the same system is retired."""
    mv = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
    if not (
        has_global(acting_user, "governance.approve_modelversion")
        or mv.business_unit_id in unit_ids_for(acting_user, "manage")
    ):
        raise PermissionDenied("You may not approve model versions for this unit.")
    if mv.created_by_id == acting_user.pk:
        raise SeparationOfDutiesError(
            "You created this model version, so someone else must approve it."
        )
    if mv.status in (ModelVersion.Status.PRODUCTION, ModelVersion.Status.RETIRED):
        raise ValidationError(f"This version is already {mv.get_status_display().lower()}.")
    # Production needs the controls the production gate requires for the initiative's tier.
    from governance.selectors import missing_controls

    initiative = mv.ai_system.initiative
    gate_stage = (
        initiative.stage
        if STAGE_ORDER.get(initiative.stage, -1) > STAGE_ORDER[Stage.INITIAL_PRODUCTION]
        else Stage.INITIAL_PRODUCTION
    )
    missing = missing_controls(initiative=initiative, target_stage=gate_stage)
    if missing:
        raise ValidationError(
            "These controls must be attested before production: "
            + ", ".join(f"{c.code} {c.name}" for c in missing)
            + "."
        )
    now = timezone.now()
    with acting_as(acting_user):
        ModelVersion.objects.filter(
            ai_system_id=mv.ai_system_id, status=ModelVersion.Status.PRODUCTION
        ).update(status=ModelVersion.Status.RETIRED, retired_at=now, updated_at=now)
        mv.status = ModelVersion.Status.PRODUCTION
        mv.approved_by = acting_user
        mv.deployed_at = now
        mv.save(update_fields=["status", "approved_by", "deployed_at", "updated_at"])
    return mv


@transaction.atomic
def access_review_decide(
    *, acting_user, item: AccessReviewItem, decision: str, note: str = ""
) -> AccessReviewItem:
    """Keep or revoke one membership under review. Nobody decides their own access; a
    revocation removes the membership and its permissions at once, the item stays as
    evidence."""
    item = AccessReviewItem.objects.select_for_update().select_related("review").get(pk=item.pk)
    review = item.review
    if not (
        acting_user.pk == review.reviewer_id
        or has_global(acting_user, "governance.change_accessreview")
    ):
        raise PermissionDenied("Only the campaign's reviewer may decide its items.")
    if item.user_id == acting_user.pk:
        raise SeparationOfDutiesError("You cannot decide on your own access.")
    if decision not in (AccessReviewItem.Decision.KEEP, AccessReviewItem.Decision.REVOKE):
        raise ValidationError({"decision": "Choose keep or revoke."})
    if item.decision != AccessReviewItem.Decision.PENDING:
        raise ValidationError("This item has already been decided.")
    with acting_as(acting_user):
        if decision == AccessReviewItem.Decision.REVOKE and item.membership_id:
            membership = UnitMembership.objects.get(pk=item.membership_id)
            # The reviewer's authority comes from the campaign, not from unit management.
            membership_revoke(acting_user=acting_user, membership=membership, authorised=True)
        item.decision = decision
        item.decided_by = acting_user
        item.decided_at = timezone.now()
        item.note = note
        item.save(update_fields=["decision", "decided_by", "decided_at", "note", "updated_at"])
    return item


# --- Stage gates ---------------------------------------------------------------------------

Decision = StageTransition.Decision
GATE_DECISIONS = (
    Decision.ADVANCE,
    Decision.HOLD,
    Decision.PIVOT,
    Decision.KILL,
    Decision.RETIRE,
    Decision.ROLL_BACK,
)


def _next_stage(initiative: Initiative) -> str:
    order = STAGE_ORDER.get(initiative.stage)
    if order is None or order + 1 >= len(ACTIVE_STAGES):
        raise ValidationError(
            {"target_stage": f"An initiative in {initiative.get_stage_display()} has no next gate."}
        )
    return ACTIVE_STAGES[order + 1]


def _write_snapshot(review: GateReview, *, today: date | None = None) -> Checklist:
    """Store the checklist as it is now on the review's criterion rows (upsert), keeping
    the team's manual evidence."""
    checklist = compute_checklist(
        initiative=review.initiative, target_stage=review.target_stage, review=review, today=today
    )
    rows = [
        GateCriterionResult(
            review=review,
            business_unit_id=review.business_unit_id,
            standard=line.standard,
            code=line.standard.code,
            name=line.standard.name,
            dimension=line.standard.dimension,
            mandatory=line.standard.mandatory,
            check_rule=line.standard.check_rule,
            met=line.met,
            detail=line.detail[:300],
            evidence=line.evidence,
        )
        for line in checklist.lines
    ]
    GateCriterionResult.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["review", "standard"],
        update_fields=["code", "name", "dimension", "mandatory", "check_rule", "met", "detail"],
    )
    # Standards no longer applicable (the tier changed) leave the checklist.
    GateCriterionResult.objects.filter(review=review).exclude(
        standard_id__in=[line.standard.pk for line in checklist.lines]
    ).delete()
    review.checked_at = timezone.now()
    review.save(update_fields=["checked_at", "updated_at"])
    return checklist


def _visible_initiative_for_write(acting_user, initiative: Initiative) -> Initiative:
    """Lock the initiative; 404-style error if out of scope, 403 if read-only."""
    if not Initiative.objects.visible_to(acting_user).filter(pk=initiative.pk).exists():
        raise Initiative.DoesNotExist("No such initiative.")
    if not Initiative.objects.editable_by(acting_user).filter(pk=initiative.pk).exists():
        raise PermissionDenied("You may not change this initiative.")
    return Initiative.objects.select_for_update().get(pk=initiative.pk)


@transaction.atomic
def gate_review_request(
    *, acting_user, initiative: Initiative, target_stage: str | None = None, note: str = ""
) -> GateReview:
    """The initiative's team asks to pass its next gate. The checklist is computed at
    once from the standards and the records; one open review per initiative."""
    initiative = _visible_initiative_for_write(acting_user, initiative)
    expected = _next_stage(initiative)
    if target_stage and target_stage != expected:
        raise ValidationError(
            {"target_stage": f"The next gate from {initiative.get_stage_display()} is {expected}."}
        )
    if GateReview.objects.filter(initiative=initiative, status=GateReview.Status.OPEN).exists():
        raise ValidationError("This initiative already has a gate review awaiting a decision.")
    now = timezone.now()
    with acting_as(acting_user):
        review = GateReview.objects.create(
            initiative=initiative,
            business_unit_id=initiative.business_unit_id,
            reason=GateReview.Reason.REQUEST,
            from_stage=initiative.stage,
            target_stage=expected,
            requested_by=acting_user,
            requested_at=now,
            request_note=note,
        )
        _write_snapshot(review)
    return review


@transaction.atomic
def gate_evidence_give(
    *, acting_user, review: GateReview, standard: Standard, evidence: str
) -> GateCriterionResult:
    """The team's evidence for a manual criterion (a link, a document reference, a
    statement). Automatic criteria take no evidence: their records speak."""
    review = GateReview.objects.select_for_update().select_related("initiative").get(pk=review.pk)
    _visible_initiative_for_write(acting_user, review.initiative)
    if review.status != GateReview.Status.OPEN:
        raise ValidationError("This gate review is closed.")
    evidence = (evidence or "").strip()
    if not evidence:
        raise ValidationError({"evidence": "Describe the evidence or link to it."})
    row = GateCriterionResult.objects.filter(review=review, standard=standard).first()
    if row is None:
        raise ValidationError({"standard": "This standard is not on the gate's checklist."})
    if row.check_rule in RULES:
        raise ValidationError(
            {"standard": f"{row.code} is checked from the records; no evidence is needed."}
        )
    with acting_as(acting_user):
        row.evidence = evidence
        row.evidence_by = acting_user
        row.met = True
        row.detail = ""
        row.save(update_fields=["evidence", "evidence_by", "met", "detail", "updated_at"])
    return row


@transaction.atomic
def gate_checklist_refresh(*, acting_user=None, review: GateReview) -> Checklist:
    """Recompute an open review's stored checklist (after the team adds records)."""
    review = GateReview.objects.select_for_update().select_related("initiative").get(pk=review.pk)
    if review.status != GateReview.Status.OPEN:
        raise ValidationError("A decided review keeps the checklist it was decided on.")
    with acting_as(acting_user):
        return _write_snapshot(review)


def _sunk_cost(initiative: Initiative) -> tuple[Decimal, str]:
    """Total spend and its currency, read through finance's reverse relation ``spend``
    (no finance import). Several currencies cannot be added without rates: the decider
    enters the figure and its currency."""
    totals = list(
        Initiative.objects.filter(pk=initiative.pk, spend__isnull=False)
        .values("spend__currency")
        .annotate(total=Sum("spend__amount"))
        .values_list("spend__currency", "total")
    )
    if not totals:
        return Decimal("0.00"), settings.REPORTING_CURRENCY
    if len(totals) > 1:
        listed = ", ".join(f"{total} {cur}" for cur, total in totals)
        raise ValidationError(
            {"sunk_cost": f"Spend is in several currencies ({listed}); enter the sunk cost."}
        )
    return totals[0][1], totals[0][0]


def spend_totals(initiative: Initiative) -> list[tuple[str, Decimal]]:
    """(currency, total spend) for the kill/retire form."""
    return list(
        Initiative.objects.filter(pk=initiative.pk, spend__isnull=False)
        .values("spend__currency")
        .annotate(total=Sum("spend__amount"))
        .values_list("spend__currency", "total")
    )


@transaction.atomic
def gate_decide(
    *,
    acting_user,
    review: GateReview,
    decision: str,
    rationale: str,
    waivers: dict[int, dict] | None = None,
    to_stage: str | None = None,
    sunk_cost: Decimal | None = None,
    sunk_cost_currency: str = "",
    salvaged: str = "",
    lessons: str = "",
    today: date | None = None,
) -> GateReview:
    """Decide a gate review: advance, hold, pivot, kill, retire or roll back.

    The caller can rely on: the decider may decide the initiative's gates and is
    neither the requester nor the requirements owner; advancing needs every mandatory
    criterion met or waived (``waivers`` maps a standard id to ``{"reason",
    "expires_on"}``, the expiry in the future); the checklist is frozen as decided; the
    stage moves through ``portfolio.services.stage_decide`` (one transition); kill and
    retire record the sunk cost (from spend unless given), what is salvaged and lessons.
    """
    review = GateReview.objects.select_for_update().select_related("initiative").get(pk=review.pk)
    initiative = review.initiative
    if not Initiative.objects.visible_to(acting_user).filter(pk=initiative.pk).exists():
        raise GateReview.DoesNotExist("No such gate review.")
    if not can_decide_gate(acting_user, initiative):
        raise PermissionDenied("You may not decide gates for this initiative.")
    if review.requested_by_id == acting_user.pk:
        raise SeparationOfDutiesError(
            "You requested this gate review, so someone else must decide it."
        )
    if Assignment.objects.filter(
        initiative=initiative, role=Assignment.Role.REQUIREMENTS_OWNER, user=acting_user
    ).exists():
        raise SeparationOfDutiesError(
            "You are this initiative's requirements owner, so someone else must decide its gate."
        )
    if review.status != GateReview.Status.OPEN:
        raise ValidationError("This gate review has already been decided.")
    if decision not in GATE_DECISIONS:
        raise ValidationError({"decision": f"Unknown decision {decision!r}."})
    if not (rationale or "").strip():
        raise ValidationError({"rationale": "Give the reason for this decision."})
    if initiative.stage != review.from_stage:
        raise ValidationError(
            "The initiative has changed stage since this review was requested; withdraw it."
        )
    today = today or timezone.localdate()
    waivers = waivers or {}
    with acting_as(acting_user):
        checklist = _write_snapshot(review, today=today)
        by_standard = {line.standard.pk: line for line in checklist.lines}
        if decision == Decision.ADVANCE:
            if review.reason == GateReview.Reason.INCIDENT:
                raise ValidationError(
                    {"decision": "After an incident, decide to continue (hold) or roll back."}
                )
            errors = []
            for std_id, w in waivers.items():
                line = by_standard.get(int(std_id))
                if line is None or not line.blocking:
                    errors.append(f"Standard {std_id} is not an unmet mandatory criterion.")
                    continue
                if not (w.get("reason") or "").strip():
                    errors.append(f"{line.standard.code}: give the reason for the waiver.")
                if not w.get("expires_on") or w["expires_on"] <= today:
                    errors.append(f"{line.standard.code}: the waiver needs a future expiry date.")
            unwaived = [
                line.standard.code
                for line in checklist.blocking
                if line.standard.pk not in {int(k) for k in waivers}
            ]
            if unwaived:
                errors.append(
                    "Mandatory criteria unmet, with no waiver: " + ", ".join(unwaived) + "."
                )
            if errors:
                raise ValidationError({"waivers": errors})
            now = timezone.now()
            Waiver.objects.bulk_create(
                [
                    Waiver(
                        review=review,
                        standard_id=int(std_id),
                        initiative=initiative,
                        business_unit_id=review.business_unit_id,
                        reason=w["reason"].strip(),
                        expires_on=w["expires_on"],
                        granted_by=acting_user,
                        granted_at=now,
                    )
                    for std_id, w in waivers.items()
                ]
            )
        elif waivers:
            raise ValidationError({"waivers": "Waivers only apply when advancing."})
        if decision in (Decision.KILL, Decision.RETIRE) and sunk_cost is None:
            sunk_cost, sunk_cost_currency = _sunk_cost(initiative)
        transition = stage_decide(
            acting_user=acting_user,
            initiative=initiative,
            decision=decision,
            rationale=rationale,
            to_stage=to_stage,
            sunk_cost=sunk_cost if decision in (Decision.KILL, Decision.RETIRE) else None,
            sunk_cost_currency=sunk_cost_currency,
            salvaged=salvaged,
            lessons=lessons,
        )
        review.status = GateReview.Status.DECIDED
        review.decision = decision
        review.rationale = rationale.strip()
        review.decided_by = acting_user
        review.decided_at = transition.decided_at
        review.transition = transition
        review.save(
            update_fields=[
                "status",
                "decision",
                "rationale",
                "decided_by",
                "decided_at",
                "transition",
                "updated_at",
            ]
        )
    return review


@transaction.atomic
def gate_review_open_for_stall(
    *, acting_user, initiative: Initiative, now: datetime | None = None
) -> GateReview:
    """PMO, a CoE or the unit's lead asks for a decision on a stalled initiative: a gate
    review into its next stage (or its current one, if it has no next), which someone
    other than the person asking then decides (advance, hold, pivot, kill, retire)."""
    from governance.selectors import stalled_initiatives

    initiative = Initiative.objects.select_for_update().get(pk=initiative.pk)
    if not Initiative.objects.visible_to(acting_user).filter(pk=initiative.pk).exists():
        raise Initiative.DoesNotExist("No such initiative.")
    if not can_decide_gate(acting_user, initiative):
        raise PermissionDenied("Only PMO, a CoE or the unit's lead asks for a stall decision.")
    if not stalled_initiatives(acting_user, now=now).filter(pk=initiative.pk).exists():
        raise ValidationError("This initiative is not stalled.")
    if GateReview.objects.filter(initiative=initiative, status=GateReview.Status.OPEN).exists():
        raise ValidationError("This initiative already has a gate review awaiting a decision.")
    order = STAGE_ORDER.get(initiative.stage)
    target = ACTIVE_STAGES[order + 1] if order + 1 < len(ACTIVE_STAGES) else initiative.stage
    today = timezone.localdate(now) if now is not None else timezone.localdate()
    due = today + timedelta(days=stall_decision_days(initiative.stage))
    with acting_as(acting_user):
        review = GateReview.objects.create(
            initiative=initiative,
            business_unit_id=initiative.business_unit_id,
            reason=GateReview.Reason.STALLED,
            from_stage=initiative.stage,
            target_stage=target,
            requested_by=acting_user,
            requested_at=timezone.now(),
            request_note=(
                f"Stalled: decide to advance, hold, pivot, kill or retire by {due:%d %b %Y}."
            ),
            decision_due_on=due,
        )
        _write_snapshot(review)
    return review


def stall_decision_days(stage: str) -> int:
    """Days a stall review of an initiative in ``stage`` has to be decided (the PMO's
    ``StagePolicy.decision_days``, else the field's default)."""
    row = StagePolicy.objects.filter(stage=stage).values_list("decision_days", flat=True).first()
    return row if row is not None else StagePolicy._meta.get_field("decision_days").default


@dataclass(frozen=True)
class StallChase:
    reminded: list[int]
    to_executive: list[int]
    to_pmo: list[int]
    notifications: int


@transaction.atomic
def stall_decisions_chase(*, today: date | None = None, send_email: bool = True) -> StallChase:
    """Remind and escalate open stall reviews; idempotent, safe to run any number of times
    a day (the periodic task runs it daily).

    - ``reminder_days`` (stage policy) before the deadline: the unit's leads and the
      accountable executive are reminded, once (``reminded_on``).
    - On the deadline: escalated to the accountable executive (level 1), once; a review
      with no accountable executive goes straight to the PMO.
    - ``reminder_days`` after the deadline, still undecided: escalated to the PMO
      (level 2), once.
    Each step is one set-based UPDATE ... RETURNING, so two runs cannot both send it."""
    from people.notifications import notify
    from portfolio.findings import Finding, initiative_url
    from portfolio.tasks import findings_to_drafts

    today = today or timezone.localdate()
    default_reminder = StagePolicy._meta.get_field("reminder_days").default
    reminder = Coalesce(
        Subquery(
            StagePolicy.objects.filter(stage=OuterRef("from_stage")).values("reminder_days")[:1]
        ),
        Value(default_reminder),
    )
    executive = Subquery(
        Assignment.objects.filter(
            initiative_id=OuterRef("initiative_id"),
            role=Assignment.Role.ACCOUNTABLE_EXECUTIVE,
        ).values("user_id")[:1]
    )
    open_stall = GateReview.objects.filter(
        status=GateReview.Status.OPEN,
        reason=GateReview.Reason.STALLED,
        decision_due_on__isnull=False,
    ).annotate(reminder_days=reminder, executive_id=executive)

    def due_plus(days):
        return Func(
            F("decision_due_on"),
            days,
            template="(%(expressions)s)",
            arg_joiner=" + ",
            output_field=DateField(),
        )

    def take(qs, **changes) -> list[dict]:
        rows = list(
            qs.values(
                "pk",
                "initiative_id",
                "business_unit_id",
                "decision_due_on",
                "executive_id",
                "initiative__code",
                "initiative__name",
            )
        )
        if rows:
            GateReview.objects.filter(pk__in=[r["pk"] for r in rows]).update(
                **changes, updated_at=timezone.now()
            )
        return rows

    remind = take(
        open_stall.annotate(remind_from=due_plus(-F("reminder_days"))).filter(
            reminded_on__isnull=True, decision_due_on__gt=today, remind_from__lte=today
        ),
        reminded_on=today,
    )
    executive_rows = take(
        open_stall.filter(
            escalation_level__lt=1, decision_due_on__lte=today, executive_id__isnull=False
        ),
        escalation_level=1,
        escalated_on=today,
    )
    pmo_rows = take(
        open_stall.annotate(due_plus_grace=due_plus(F("reminder_days"))).filter(
            Q(escalation_level__lt=2, decision_due_on__lte=today)
            & (Q(executive_id__isnull=True) | Q(due_plus_grace__lte=today))
        ),
        escalation_level=2,
        escalated_on=today,
    )

    findings = []
    for r in remind:
        findings.append(
            Finding(
                kind="stall_decision_due",
                key=f"stall_decision:{r['pk']}:reminder",
                business_unit_id=r["business_unit_id"],
                title=f"{r['initiative__code']}: stall decision due {r['decision_due_on']:%d %b %Y}",
                body="Decide to advance, hold, pivot, kill or retire before the deadline.",
                url=initiative_url(r["initiative_id"]),
                user_ids=(r["executive_id"],) if r["executive_id"] else (),
            )
        )
    for r in executive_rows:
        findings.append(
            Finding(
                kind="stall_decision_overdue",
                key=f"stall_decision:{r['pk']}:executive",
                business_unit_id=r["business_unit_id"],
                title=f"{r['initiative__code']}: stall decision overdue since "
                f"{r['decision_due_on']:%d %b %Y}",
                body="Escalated to you as the accountable executive.",
                url=initiative_url(r["initiative_id"]),
                user_ids=(r["executive_id"],),
            )
        )
    for r in pmo_rows:
        findings.append(
            Finding(
                kind="stall_decision_overdue",
                key=f"stall_decision:{r['pk']}:pmo",
                business_unit_id=r["business_unit_id"],
                title=f"{r['initiative__code']}: stall decision overdue since "
                f"{r['decision_due_on']:%d %b %Y}",
                body="Escalated to the PMO: nobody has decided.",
                url=initiative_url(r["initiative_id"]),
                groups=(PMO,),
            )
        )
    created = notify(drafts=findings_to_drafts(findings, period="once"), send_email=send_email)
    return StallChase(
        reminded=[r["pk"] for r in remind],
        to_executive=[r["pk"] for r in executive_rows],
        to_pmo=[r["pk"] for r in pmo_rows],
        notifications=len(created),
    )


@transaction.atomic
def gate_review_withdraw(*, acting_user, review: GateReview) -> GateReview:
    """The team withdraws its own request (only a requested review, not one opened by an
    incident, which needs a decision)."""
    review = GateReview.objects.select_for_update().select_related("initiative").get(pk=review.pk)
    _visible_initiative_for_write(acting_user, review.initiative)
    if review.status != GateReview.Status.OPEN:
        raise ValidationError("This gate review is closed.")
    if review.reason != GateReview.Reason.REQUEST:
        raise ValidationError("A review opened by an incident or a stall needs a decision.")
    with acting_as(acting_user):
        review.status = GateReview.Status.WITHDRAWN
        review.save(update_fields=["status", "updated_at"])
    return review


# --- Risk and incidents --------------------------------------------------------------------

PRODUCTION_STAGES = (Stage.INITIAL_PRODUCTION, Stage.SCALED_DEPLOYMENT, Stage.INSTITUTIONAL)
SEVERE = (Incident.Severity.HIGH, Incident.Severity.CRITICAL)


def required_controls_for_tier(tier: str) -> QuerySet[Control]:
    """The controls an initiative of ``tier`` must attest (at some stage)."""
    return Control.objects.filter(
        Q(applies_to_tiers__len=0) | Q(applies_to_tiers__contains=[tier])
    ).order_by("applies_from_stage", "code")


@transaction.atomic
def risk_assessment_record(
    *,
    acting_user,
    initiative: Initiative,
    eu_tier: str,
    us_high_impact: bool | None,
    us_justification: str = "",
    next_review_due: date | None = None,
    notes: str = "",
) -> RiskAssessment:
    """A new current assessment: earlier ones are superseded and the initiative takes the
    tier, so its gates ask for the tier's controls and standards."""
    initiative = _visible_initiative_for_write(acting_user, initiative)
    if eu_tier not in RiskTier.values or eu_tier == RiskTier.UNASSESSED:
        raise ValidationError({"eu_tier": "Choose the EU AI Act tier."})
    if us_high_impact is not None and not (us_justification or "").strip():
        raise ValidationError(
            {"us_justification": "Justify the US high-impact classification either way."}
        )
    today = timezone.localdate()
    if next_review_due is None:
        next_review_due = today + timedelta(days=180 if eu_tier == RiskTier.HIGH else 365)
    if next_review_due <= today:
        raise ValidationError({"next_review_due": "The next review must be in the future."})
    with acting_as(acting_user):
        RiskAssessment.objects.filter(
            initiative=initiative,
            status__in=[RiskAssessment.Status.CURRENT, RiskAssessment.Status.REOPENED],
        ).update(status=RiskAssessment.Status.SUPERSEDED, updated_at=timezone.now())
        assessment = RiskAssessment.objects.create(
            initiative=initiative,
            business_unit_id=initiative.business_unit_id,
            eu_tier=eu_tier,
            us_high_impact=us_high_impact,
            us_justification=us_justification,
            status=RiskAssessment.Status.CURRENT,
            assessor=acting_user,
            assessed_on=today,
            next_review_due=next_review_due,
            notes=notes,
        )
        if initiative.risk_tier != eu_tier:
            initiative.risk_tier = eu_tier
            initiative.save(update_fields=["risk_tier", "updated_at"])
    return assessment


def _timeline_entry(acting_user, event: str) -> dict:
    return {
        "at": timezone.now().isoformat(timespec="seconds"),
        "by": acting_user.get_username() if acting_user else "",
        "event": event,
    }


@transaction.atomic
def incident_report(
    *,
    acting_user,
    initiative: Initiative,
    title: str,
    severity: str,
    detected_at: datetime | None = None,
    description: str = "",
    escalation_level: int = 1,
    escalation_path: str = "",
    review_due: date | None = None,
) -> Incident:
    """Record an incident. A severe one (high or critical) on an initiative in
    production reopens its risk assessment and opens a gate review asking for a
    decision: continue or roll back."""
    initiative = _visible_initiative_for_write(acting_user, initiative)
    if severity not in Incident.Severity.values:
        raise ValidationError({"severity": "Choose a severity."})
    if not (title or "").strip():
        raise ValidationError({"title": "Give the incident a title."})
    detected_at = detected_at or timezone.now()
    if review_due is None:
        review_due = timezone.localdate() + timedelta(days=14 if severity in SEVERE else 30)
    with acting_as(acting_user):
        incident = Incident.objects.create(
            initiative=initiative,
            business_unit_id=initiative.business_unit_id,
            title=title.strip(),
            description=description,
            severity=severity,
            detected_at=detected_at,
            escalation_level=escalation_level,
            escalation_path=escalation_path,
            reported_by=acting_user,
            review_due=review_due,
            timeline=[_timeline_entry(acting_user, f"Reported ({severity}).")],
        )
        if severity in SEVERE:
            _severe_incident_followup(acting_user, incident, initiative)
    return incident


@transaction.atomic
def incident_update(
    *,
    acting_user,
    incident: Incident,
    status: str | None = None,
    severity: str | None = None,
    escalation_level: int | None = None,
    note: str = "",
    review_summary: str | None = None,
) -> Incident:
    """Move an incident on (status, severity, escalation), appending to its timeline.
    Raising it to high or critical triggers the same follow-up as reporting it so."""
    incident = Incident.objects.select_for_update().select_related("initiative").get(pk=incident.pk)
    initiative = _visible_initiative_for_write(acting_user, incident.initiative)
    events, fields = [], ["timeline", "updated_at"]
    became_severe = False
    if severity and severity != incident.severity:
        if severity not in Incident.Severity.values:
            raise ValidationError({"severity": "Choose a severity."})
        became_severe = severity in SEVERE and incident.severity not in SEVERE
        events.append(f"Severity {incident.severity} -> {severity}.")
        incident.severity = severity
        fields.append("severity")
    if status and status != incident.status:
        if status not in Incident.Status.values:
            raise ValidationError({"status": "Choose a status."})
        events.append(f"Status {incident.status} -> {status}.")
        incident.status = status
        fields.append("status")
        if (
            status in (Incident.Status.RESOLVED, Incident.Status.CLOSED)
            and not incident.resolved_at
        ):
            incident.resolved_at = timezone.now()
            fields.append("resolved_at")
    if escalation_level and escalation_level != incident.escalation_level:
        events.append(f"Escalated to level {escalation_level}.")
        incident.escalation_level = escalation_level
        fields.append("escalation_level")
    if review_summary is not None and review_summary.strip():
        incident.review_summary = review_summary.strip()
        incident.review_completed_on = timezone.localdate()
        fields += ["review_summary", "review_completed_on"]
        events.append("Post-incident review completed.")
    if note.strip():
        events.append(note.strip())
    if not events:
        raise ValidationError("Nothing changed.")
    with acting_as(acting_user):
        incident.timeline = [*incident.timeline, *[_timeline_entry(acting_user, e) for e in events]]
        incident.save(update_fields=fields)
        if became_severe:
            _severe_incident_followup(acting_user, incident, initiative)
    return incident


def _severe_incident_followup(acting_user, incident: Incident, initiative: Initiative) -> None:
    if initiative.stage not in PRODUCTION_STAGES:
        return
    now = timezone.now()
    reopened = RiskAssessment.objects.filter(
        initiative=initiative, status=RiskAssessment.Status.CURRENT
    ).update(status=RiskAssessment.Status.REOPENED, updated_at=now)
    notes = [
        f"Risk assessment reopened ({reopened})."
        if reopened
        else "No current risk assessment to reopen."
    ]
    open_review = GateReview.objects.filter(
        initiative=initiative, status=GateReview.Status.OPEN
    ).first()
    if open_review is None:
        review = GateReview.objects.create(
            initiative=initiative,
            business_unit_id=initiative.business_unit_id,
            reason=GateReview.Reason.INCIDENT,
            incident=incident,
            from_stage=initiative.stage,
            target_stage=initiative.stage,
            requested_by=acting_user,
            requested_at=now,
            request_note=f"Severe incident: {incident.title}. Continue or roll back?",
        )
        notes.append(f"Gate review #{review.pk} opened: continue or roll back.")
    else:
        notes.append(
            f"Gate review #{open_review.pk} already open; decide it with this incident in mind."
        )
    incident.timeline = [*incident.timeline, *[_timeline_entry(acting_user, n) for n in notes]]
    incident.save(update_fields=["timeline", "updated_at"])


# --- Access reviews ------------------------------------------------------------------------


@transaction.atomic
def access_review_open(
    *, acting_user, business_unit: BusinessUnit, reviewer, due_on: date, name: str = ""
) -> AccessReview:
    """Open a campaign listing every membership of the unit and its child units. The
    reviewer must lead the unit or hold a global role that may change access reviews;
    they cannot decide their own membership (someone else decides that item)."""
    # The unit's named lead (BusinessUnit.lead) counts as its lead here too.
    if not (
        has_global(acting_user, "governance.add_accessreview")
        or business_unit.pk in unit_ids_for(acting_user, "manage")
        or business_unit.lead_id == acting_user.pk
    ):
        raise PermissionDenied("Only the unit's lead or PMO staff can open its access review.")
    if not (
        has_global(reviewer, "governance.change_accessreview")
        or business_unit.pk in unit_ids_for(reviewer, "manage")
        or business_unit.lead_id == reviewer.pk
    ):
        raise ValidationError({"reviewer": f"{reviewer} does not lead this unit or review access."})
    today = timezone.localdate()
    if due_on < today:
        raise ValidationError({"due_on": "The due date cannot be in the past."})
    unit_ids = list(
        BusinessUnit.objects.filter(pk=business_unit.pk).values_list("pk", flat=True)
    ) + _descendant_ids(business_unit)
    with acting_as(acting_user):
        review = AccessReview.objects.create(
            business_unit=business_unit,
            name=name or f"{business_unit.name} access review {today:%Y-%m}",
            reviewer=reviewer,
            opened_on=today,
            due_on=due_on,
        )
        AccessReviewItem.objects.bulk_create(
            [
                AccessReviewItem(
                    review=review,
                    business_unit_id=m.business_unit_id,
                    membership=m,
                    user_id=m.user_id,
                    role=m.role,
                )
                for m in UnitMembership.objects.filter(business_unit_id__in=unit_ids).only(
                    "pk", "business_unit_id", "user_id", "role"
                )
            ]
        )
    return review


def _descendant_ids(unit: BusinessUnit) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE tree AS (
                SELECT id FROM people_businessunit WHERE parent_id = %s
                UNION
                SELECT c.id FROM people_businessunit c JOIN tree ON c.parent_id = tree.id
            ) SELECT id FROM tree
            """,
            [unit.pk],
        )
        return [row[0] for row in cursor.fetchall()]


@transaction.atomic
def access_review_close(*, acting_user, review: AccessReview) -> AccessReview:
    """Close a campaign once every item is decided; the items stay as evidence."""
    review = AccessReview.objects.select_for_update().get(pk=review.pk)
    if not (
        acting_user.pk == review.reviewer_id
        or has_global(acting_user, "governance.change_accessreview")
    ):
        raise PermissionDenied("Only the campaign's reviewer may close it.")
    if review.status == AccessReview.Status.CLOSED:
        raise ValidationError("This review is already closed.")
    pending = review.items.filter(decision=AccessReviewItem.Decision.PENDING).count()
    if pending:
        raise ValidationError(f"{pending} item(s) still need a decision.")
    with acting_as(acting_user):
        review.status = AccessReview.Status.CLOSED
        review.closed_on = timezone.localdate()
        review.save(update_fields=["status", "closed_on", "updated_at"])
    return review
