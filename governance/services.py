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
    AISystem,
    Control,
    GateCriterionResult,
    GateReview,
    Incident,
    ModelDeployment,
    ModelRollback,
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
from portfolio.services import (
    can_decide_gate,
    held_role_since,
    on_team,
    stage_decide,
    target_stage,
)
from portfolio.transitions import Decision as D
from portfolio.transitions import allowed_decisions, default_target


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
        _deploy(mv, now=now, kind=ModelDeployment.Kind.PROMOTE, approved_by=acting_user)
    return mv


def _deploy(mv: ModelVersion, *, now, kind, approved_by, requested_by=None, reason="") -> None:
    """Close the system's open production period and open one for ``mv``."""
    ModelDeployment.objects.filter(ai_system_id=mv.ai_system_id, ended_at__isnull=True).update(
        ended_at=now, updated_at=now
    )
    ModelDeployment.objects.create(
        ai_system_id=mv.ai_system_id,
        business_unit_id=mv.business_unit_id,
        model_version=mv,
        kind=kind,
        started_at=now,
        requested_by=requested_by,
        approved_by=approved_by,
        reason=reason,
    )


def version_in_production(*, ai_system: AISystem, at: datetime | date) -> ModelVersion | None:
    """The version of ``ai_system`` that was in production at ``at`` (a date means the
    end of that day), from the production periods promotions and roll backs record."""
    if not isinstance(at, datetime):
        at = timezone.make_aware(datetime.combine(at, datetime.max.time()))
    deployment = (
        ModelDeployment.objects.filter(ai_system=ai_system, started_at__lte=at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at))
        .select_related("model_version")
        .order_by("-started_at")
        .first()
    )
    return deployment.model_version if deployment else None


def _may_approve_models(user, mv_or_system) -> bool:
    return has_global(user, "governance.approve_modelversion") or (
        mv_or_system.business_unit_id in unit_ids_for(user, "manage")
    )


@transaction.atomic
def model_rollback_request(
    *, acting_user, ai_system: AISystem, to_version: ModelVersion, reason: str
) -> ModelRollback:
    """Ask to put an earlier version of the system back into production, with a reason;
    someone other than the requester approves it (``model_rollback_approve``)."""
    if not AISystem.objects.visible_to(acting_user).filter(pk=ai_system.pk).exists():
        raise AISystem.DoesNotExist("No such AI system.")
    if not (
        AISystem.objects.editable_by(acting_user).filter(pk=ai_system.pk).exists()
        or _may_approve_models(acting_user, ai_system)
    ):
        raise PermissionDenied("You may not ask for a roll back of this system.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the system is rolled back."})
    current = ModelVersion.objects.filter(
        ai_system=ai_system, status=ModelVersion.Status.PRODUCTION
    ).first()
    if current is None:
        raise ValidationError("No version of this system is in production to roll back from.")
    to_version = ModelVersion.objects.get(pk=to_version.pk)
    if to_version.ai_system_id != ai_system.pk:
        raise ValidationError({"to_version": "That version belongs to another system."})
    if to_version.pk == current.pk:
        raise ValidationError({"to_version": "That version is the one in production."})
    if not (
        to_version.approved_by_id and (to_version.deployed_at or to_version.deployments.exists())
    ):
        raise ValidationError(
            {"to_version": "Roll back goes to a version that was approved and in production."}
        )
    if ModelRollback.objects.filter(ai_system=ai_system, status="requested").exists():
        raise ValidationError("A roll back of this system is already awaiting approval.")
    with acting_as(acting_user):
        return ModelRollback.objects.create(
            ai_system=ai_system,
            business_unit_id=ai_system.business_unit_id,
            from_version=current,
            to_version=to_version,
            reason=reason.strip(),
            requested_by=acting_user,
            requested_at=timezone.now(),
        )


@transaction.atomic
def model_rollback_decide(
    *, acting_user, rollback: ModelRollback, approve: bool, note: str = ""
) -> ModelRollback:
    """Approve (the earlier version goes back into production, the current one is
    retired, the production history records both) or reject a roll back. The decider is
    never the requester."""
    rollback = ModelRollback.objects.select_for_update().get(pk=rollback.pk)
    if not AISystem.objects.visible_to(acting_user).filter(pk=rollback.ai_system_id).exists():
        raise ModelRollback.DoesNotExist("No such roll back.")
    if not _may_approve_models(acting_user, rollback):
        raise PermissionDenied("You may not approve model changes for this unit.")
    if rollback.requested_by_id == acting_user.pk:
        raise SeparationOfDutiesError("You asked for this roll back, so someone else decides it.")
    if rollback.status != ModelRollback.Status.REQUESTED:
        raise ValidationError("This roll back has already been decided.")
    if not approve and not (note or "").strip():
        raise ValidationError({"note": "Say why the roll back is rejected."})
    now = timezone.now()
    with acting_as(acting_user):
        if approve:
            current = ModelVersion.objects.select_for_update().get(pk=rollback.from_version_id)
            if current.status != ModelVersion.Status.PRODUCTION:
                raise ValidationError("The version to roll back from is no longer in production.")
            ModelVersion.objects.filter(pk=current.pk).update(
                status=ModelVersion.Status.RETIRED, retired_at=now, updated_at=now
            )
            target = ModelVersion.objects.select_for_update().get(pk=rollback.to_version_id)
            target.status = ModelVersion.Status.PRODUCTION
            target.deployed_at = now
            target.retired_at = None
            target.save(update_fields=["status", "deployed_at", "retired_at", "updated_at"])
            _deploy(
                target,
                now=now,
                kind=ModelDeployment.Kind.ROLL_BACK,
                approved_by=acting_user,
                requested_by=rollback.requested_by,
                reason=rollback.reason,
            )
        rollback.status = (
            ModelRollback.Status.APPROVED if approve else ModelRollback.Status.REJECTED
        )
        rollback.decided_by = acting_user
        rollback.decided_at = now
        rollback.decision_note = note
        rollback.save(
            update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"]
        )
    return rollback


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
HIGH_RISK_TIERS = (RiskTier.HIGH, RiskTier.PROHIBITED)


def review_decisions(review: GateReview) -> list[str]:
    """The decisions a gate review can take, from the transition table: a review opened
    by a severe incident asks "continue or roll back" (plus kill and retire), never
    advance."""
    decisions = allowed_decisions(review.from_stage)
    if review.reason == GateReview.Reason.INCIDENT:
        decisions = [d for d in decisions if d in (D.HOLD, D.ROLL_BACK, D.KILL, D.RETIRE)]
    return decisions


def gate_decider_problem(user, review: GateReview) -> str:
    """Why ``user`` may not decide ``review`` ("" if they may): only PMO, a CoE or the
    unit's lead decides; never the person who requested it, nor anyone who has held the
    initiative's requirements-owner role while the review was open (so handing the role
    to a colleague for the decision does not work). One rule for the page and the
    service."""
    if not can_decide_gate(user, review.initiative):
        return "Only PMO, a centre of excellence or the unit's lead decides this gate."
    if review.requested_by_id == user.pk:
        return "You requested this gate review, so someone else must decide it."
    if held_role_since(
        initiative_id=review.initiative_id,
        role=Assignment.Role.REQUIREMENTS_OWNER,
        user_id=user.pk,
        since=_review_opened_at(review),
    ):
        return (
            "You are, or have been while this review was open, the initiative's "
            "requirements owner, so someone else must decide its gate."
        )
    return ""


def _review_opened_at(review: GateReview):
    """When the review was opened, on the database's clock (its audit insert event), so it
    compares with the assignments' audit events; the request time otherwise."""
    from django.apps import apps

    opened = (
        apps.get_model("governance", "GateReviewEvent")
        .objects.filter(pgh_obj_id=review.pk, pgh_label="insert")
        .values_list("pgh_created_at", flat=True)
        .first()
    )
    return opened or review.requested_at


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


def waiver_needs_cosign(initiative: Initiative, standard: Standard) -> bool:
    """A mandatory criterion of a high-risk initiative is not waived by the unit alone:
    PMO or a CoE grants or co-signs the waiver."""
    return standard.mandatory and initiative.risk_tier in HIGH_RISK_TIERS


def _cosigns(user) -> bool:
    return has_global(user, "portfolio.decide_gate")


def _grant_waivers(*, acting_user, review, initiative, checklist, waivers, today) -> None:
    """Check and record the waivers that let a gate pass with mandatory criteria unmet:
    the ones given with the decision and the ones proposed on the review beforehand."""
    errors = []
    for std_id, w in waivers.items():
        line = next((x for x in checklist.lines if x.standard.pk == int(std_id)), None)
        if line is None or line.met or not line.standard.mandatory:
            errors.append(f"Standard {std_id} is not an unmet mandatory criterion.")
            continue
        if not (w.get("reason") or "").strip():
            errors.append(f"{line.standard.code}: give the reason for the waiver.")
        if not w.get("expires_on") or w["expires_on"] <= today:
            errors.append(f"{line.standard.code}: the waiver needs a future expiry date.")
        if waiver_needs_cosign(initiative, line.standard) and not _cosigns(acting_user):
            errors.append(
                f"{line.standard.code}: a mandatory criterion of a high-risk initiative is "
                "waived with PMO or CoE co-signature; propose the waiver in the register first."
            )
    given = {int(k) for k in waivers}
    unwaived, cosign_now = [], []
    for line in checklist.lines:
        if line.met or not line.standard.mandatory or line.standard.pk in given:
            continue
        existing = line.waiver
        if existing is None or existing.expires_on <= today:
            unwaived.append(line.standard.code)
        elif waiver_needs_cosign(initiative, line.standard) and not (
            existing.co_signed_by_id or _cosigns(existing.granted_by)
        ):
            if _cosigns(acting_user) and acting_user.pk != existing.granted_by_id:
                cosign_now.append(existing.pk)
            else:
                errors.append(f"{line.standard.code}: the waiver awaits PMO or CoE co-signature.")
    if unwaived:
        errors.append("Mandatory criteria unmet, with no waiver: " + ", ".join(unwaived) + ".")
    if errors:
        raise ValidationError({"waivers": errors})
    now = timezone.now()
    if cosign_now:
        Waiver.objects.filter(pk__in=cosign_now).update(
            co_signed_by=acting_user, co_signed_at=now, updated_at=now
        )
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


@transaction.atomic
def waiver_propose(
    *, acting_user, review: GateReview, standard: Standard, reason: str, expires_on: date
) -> Waiver:
    """The team (or a decider) proposes waiving an unmet mandatory criterion of an open
    review, with its reason and expiry; the proposer is its owner. A high-risk
    initiative's waiver then needs PMO or CoE co-signature before the gate can pass."""
    review = GateReview.objects.select_for_update().select_related("initiative").get(pk=review.pk)
    _visible_initiative_for_write(acting_user, review.initiative)
    if review.status != GateReview.Status.OPEN:
        raise ValidationError("This gate review is closed.")
    row = GateCriterionResult.objects.filter(review=review, standard=standard).first()
    if row is None or row.met or not row.mandatory:
        raise ValidationError({"standard": "Only an unmet mandatory criterion is waived."})
    if not (reason or "").strip():
        raise ValidationError({"reason": "Give the reason for the waiver."})
    if not expires_on or expires_on <= timezone.localdate():
        raise ValidationError({"expires_on": "A waiver needs a future expiry date."})
    if Waiver.objects.filter(review=review, standard=standard).exists():
        raise ValidationError({"standard": "This criterion already has a waiver on this review."})
    now = timezone.now()
    with acting_as(acting_user):
        return Waiver.objects.create(
            review=review,
            standard=standard,
            initiative=review.initiative,
            business_unit_id=review.business_unit_id,
            reason=reason.strip(),
            expires_on=expires_on,
            granted_by=acting_user,
            granted_at=now,
        )


@transaction.atomic
def waiver_cosign(*, acting_user, waiver: Waiver) -> Waiver:
    """PMO or a CoE co-signs a waiver someone else proposed."""
    waiver = Waiver.objects.select_for_update().select_related("initiative").get(pk=waiver.pk)
    if not Initiative.objects.visible_to(acting_user).filter(pk=waiver.initiative_id).exists():
        raise Waiver.DoesNotExist("No such waiver.")
    if not _cosigns(acting_user):
        raise PermissionDenied("Only PMO or a centre of excellence co-signs waivers.")
    if waiver.granted_by_id == acting_user.pk:
        raise SeparationOfDutiesError("You proposed this waiver, so someone else co-signs it.")
    if waiver.co_signed_by_id:
        raise ValidationError("This waiver is already co-signed.")
    if waiver.expires_on <= timezone.localdate():
        raise ValidationError("This waiver has expired.")
    with acting_as(acting_user):
        waiver.co_signed_by = acting_user
        waiver.co_signed_at = timezone.now()
        waiver.save(update_fields=["co_signed_by", "co_signed_at", "updated_at"])
    return waiver


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
    problem = gate_decider_problem(acting_user, review)
    if problem:
        raise SeparationOfDutiesError(problem)
    if review.status != GateReview.Status.OPEN:
        raise ValidationError("This gate review has already been decided.")
    if review.reason == GateReview.Reason.INCIDENT and decision == Decision.ADVANCE:
        raise ValidationError(
            {"decision": "After an incident, decide to continue (hold), roll back, kill or retire."}
        )
    if decision not in review_decisions(review):
        raise ValidationError(
            {
                "decision": f"{decision!r} is not a decision for this review. Allowed: "
                + ", ".join(review_decisions(review))
                + "."
            }
        )
    if decision == Decision.ADVANCE and review.target_stage != default_target(
        Decision.ADVANCE, initiative.stage
    ):
        raise ValidationError({"decision": "This review is not for the next stage."})
    target_stage(initiative, decision, to_stage)  # the table says what is allowed
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
        if decision == Decision.ADVANCE:
            if review.reason == GateReview.Reason.INCIDENT:
                raise ValidationError(
                    {"decision": "After an incident, decide to continue (hold) or roll back."}
                )
            _grant_waivers(
                acting_user=acting_user,
                review=review,
                initiative=initiative,
                checklist=checklist,
                waivers=waivers,
                today=today,
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
            gate_review_id=review.pk,
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


def required_controls_for_tier(tier: str, source: str = "") -> QuerySet[Control]:
    """The controls an initiative of ``tier`` (imported from ``source``, if any) must
    attest at some stage (``governance.models.control_applies``)."""
    return Control.objects.applicable(tier=tier, source=source).order_by(
        "applies_from_stage", "code"
    )


#: Higher is riskier; "not yet assessed" is below every assessed tier.
TIER_RANK = {
    RiskTier.UNASSESSED: 0,
    RiskTier.MINIMAL: 1,
    RiskTier.LIMITED: 2,
    RiskTier.HIGH: 3,
    RiskTier.PROHIBITED: 4,
}


def governing_tier(initiative: Initiative) -> str:
    """The tier the initiative is governed by: its latest current (or reopened) risk
    assessment's, else what it carries (imported, or not yet assessed)."""
    latest = (
        RiskAssessment.objects.filter(
            initiative_id=initiative.pk,
            status__in=[RiskAssessment.Status.CURRENT, RiskAssessment.Status.REOPENED],
        )
        .order_by("-assessed_on", "-id")
        .values_list("eu_tier", flat=True)
        .first()
    )
    return latest or initiative.risk_tier


def tier_lowering_problem(user, initiative: Initiative) -> str:
    """Why ``user`` may not record a lower risk tier ("" if they may): it takes someone
    outside the initiative's team who holds a risk authority (PMO, CoE, or a role given
    ``governance.lower_risk_tier``)."""
    if not has_global(user, "governance.lower_risk_tier"):
        return (
            "A lower risk tier is confirmed by PMO, a centre of excellence or a risk role, "
            "outside the initiative's team."
        )
    if on_team(user, initiative):
        return "You are on this initiative's team; someone outside it confirms a lower tier."
    return ""


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
    if has_global(acting_user, "governance.add_riskassessment"):
        # PMO and CoE assess any initiative they can see (a unit's change right is not
        # needed: they are the people outside the team who confirm tiers).
        if not Initiative.objects.visible_to(acting_user).filter(pk=initiative.pk).exists():
            raise Initiative.DoesNotExist("No such initiative.")
        initiative = Initiative.objects.select_for_update().get(pk=initiative.pk)
    else:
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
    governing = governing_tier(initiative)
    if TIER_RANK[eu_tier] < TIER_RANK[governing]:
        problem = tier_lowering_problem(acting_user, initiative)
        if problem:
            raise PermissionDenied(problem)
        notes = (
            f"Lowers the tier from {RiskTier(governing).label.lower()} to "
            f"{RiskTier(eu_tier).label.lower()}; confirmed by {acting_user.get_username()}, "
            "outside the initiative's team.\n" + (notes or "")
        ).strip()
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
            _escalation_start(incident)
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
            _escalation_start(incident)
    return incident


#: How long a severe incident may stay unacknowledged before it goes one level up.
ACK_WINDOW = {
    Incident.Severity.CRITICAL: timedelta(hours=1),
    Incident.Severity.HIGH: timedelta(hours=4),
}
MAX_ESCALATION_LEVEL = 3
ESCALATION_LEVELS = {
    1: "the operator, the risk owner and the unit's leads",
    2: "also the accountable executive and the PMO",
    3: "also the centres of excellence",
}


def incident_escalation_recipients(incident: Incident, level: int) -> set[int]:
    """Who is told at ``level`` of a severe incident's escalation path (each level
    includes the ones below): 1 the initiative's operator and risk owner and the unit's
    leads; 2 the accountable executive and the PMO; 3 the centres of excellence."""
    from people.notifications import active_user_ids, group_user_ids, unit_lead_ids
    from people.roles import COE, PMO

    roles = [Assignment.Role.OPERATOR, Assignment.Role.RISK_OWNER]
    if level >= 2:
        roles.append(Assignment.Role.ACCOUNTABLE_EXECUTIVE)
    users = set(
        Assignment.objects.filter(initiative_id=incident.initiative_id, role__in=roles).values_list(
            "user_id", flat=True
        )
    )
    users |= unit_lead_ids([incident.business_unit_id])[incident.business_unit_id]
    if level >= 2:
        users |= group_user_ids(PMO)
    if level >= 3:
        users |= group_user_ids(COE)
    return active_user_ids(users)


def incident_notify(*, incident_id: int, level: int | None = None) -> list[int]:
    """Tell the escalation path of a severe, unacknowledged incident at its level (inbox
    and email). Idempotent: a person is told once per incident and level."""
    from people.notifications import Draft, notify

    incident = Incident.objects.filter(pk=incident_id).select_related("initiative").first()
    if incident is None or incident.severity not in SEVERE or incident.acknowledged_at:
        return []
    level = level or incident.escalation_level
    from django.urls import reverse

    url = reverse("governance:incident_detail", args=[incident.pk])
    drafts = [
        Draft(
            user_id=uid,
            kind="incident_escalation",
            finding_key=f"incident:{incident.pk}:level:{level}",
            period="once",
            title=f"{incident.get_severity_display()} incident on {incident.initiative.code}: "
            f"{incident.title}" + (f" (escalated to level {level})" if level > 1 else ""),
            body=(
                f"Reported {timezone.localtime(incident.detected_at):%d %b %Y %H:%M}. "
                f"Acknowledge it within {int(ACK_WINDOW[incident.severity].total_seconds() // 3600)} "
                "hour(s) or it escalates. " + (incident.escalation_path or "")
            ).strip(),
            url=url,
            urgent=True,  # told at once by email too, not with the next digest
        )
        for uid in sorted(incident_escalation_recipients(incident, level))
    ]
    return notify(drafts=drafts)


def _escalation_start(incident: Incident) -> None:
    """A severe incident starts its escalation clock and is told to level 1 (or the level
    it was reported at) as soon as the report is committed."""
    if incident.acknowledged_at:
        return
    incident.escalated_at = timezone.now()
    incident.save(update_fields=["escalated_at", "updated_at"])
    incident_id, level = incident.pk, incident.escalation_level

    def tell():
        try:
            incident_notify(incident_id=incident_id, level=level)
        except Exception:  # the periodic escalation retries an undelivered notice
            import logging

            logging.getLogger(__name__).exception("Incident %s notice failed", incident_id)

    transaction.on_commit(tell)


@transaction.atomic
def may_acknowledge_incident(user, incident: Incident) -> bool:
    """Who is on an incident's escalation path: those who may change it, and PMO/CoE. The
    one check the service, the web view, its button (``governance.acknowledge_incident``)
    and the API share."""
    return Incident.objects.editable_by(user).filter(pk=incident.pk).exists() or has_global(
        user, "portfolio.decide_gate"
    )


def incident_acknowledge(*, acting_user, incident: Incident, note: str = "") -> Incident:
    """Someone on the escalation path (:func:`may_acknowledge_incident`) takes the
    incident: escalation stops. Out of scope: ``DoesNotExist``; not on the path:
    ``PermissionDenied``; already acknowledged: ``ValidationError``."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if not Incident.objects.visible_to(acting_user).filter(pk=incident.pk).exists():
        raise Incident.DoesNotExist("No such incident.")
    if not may_acknowledge_incident(acting_user, incident):
        raise PermissionDenied("You may not acknowledge this incident.")
    if incident.acknowledged_at:
        raise ValidationError("This incident is already acknowledged.")
    with acting_as(acting_user):
        incident.acknowledged_by = acting_user
        incident.acknowledged_at = timezone.now()
        event = "Acknowledged." + (f" {note.strip()}" if note.strip() else "")
        incident.timeline = [*incident.timeline, _timeline_entry(acting_user, event)]
        incident.save(
            update_fields=["acknowledged_by", "acknowledged_at", "timeline", "updated_at"]
        )
    return incident


def incidents_escalate(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic escalation: a severe incident still open and unacknowledged past its
    severity's window goes one level up (timeline entry, the new level told at once).
    Idempotent: the window restarts at each level."""
    now = now or timezone.now()
    escalated = 0
    for severity, window in ACK_WINDOW.items():
        due = Incident.objects.filter(
            severity=severity,
            acknowledged_at__isnull=True,
            status__in=[Incident.Status.OPEN, Incident.Status.INVESTIGATING],
            escalation_level__lt=MAX_ESCALATION_LEVEL,
        ).filter(
            Q(escalated_at__lte=now - window)
            | Q(escalated_at__isnull=True, detected_at__lte=now - window)
        )
        for pk in due.values_list("pk", flat=True):
            with transaction.atomic():
                incident = Incident.objects.select_for_update().get(pk=pk)
                incident.escalation_level += 1
                incident.escalated_at = now
                incident.timeline = [
                    *incident.timeline,
                    _timeline_entry(
                        None,
                        f"Not acknowledged within {window}; escalated to level "
                        f"{incident.escalation_level} ({ESCALATION_LEVELS.get(incident.escalation_level, '')}).",
                    ),
                ]
                incident.save(
                    update_fields=["escalation_level", "escalated_at", "timeline", "updated_at"]
                )
            incident_notify(incident_id=pk, level=incident.escalation_level)
            escalated += 1
    return {"escalated": escalated}


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
def may_review_access(user, business_unit: BusinessUnit) -> bool:
    """Who may be named reviewer of a unit's access review: the one rule for people named
    on a record (``people.selectors.people_for_units``) narrowed to leads (of the unit or
    a unit above it; PMO and CoE anywhere), and the unit's named lead. The form's
    drop-down and its validation ask the same."""
    from people.models import UnitRole
    from people.selectors import may_be_named

    return business_unit.lead_id == user.pk or may_be_named(
        user, [business_unit.pk], unit_roles=[UnitRole.LEAD]
    )


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
    if not may_review_access(reviewer, business_unit):
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


# --- Rechecks after a gate has passed ------------------------------------------------------


@transaction.atomic
def gate_criteria_recheck(*, today: date | None = None, acting_user=None) -> dict[str, int]:
    """Recheck, for every live initiative, the mandatory criteria of the gate it passed
    into its current stage. A criterion met (or waived) then and not now (an attestation
    expired, a fairness audit failed, a waiver expired) becomes an open
    ``CriterionLapse``; one that holds again is resolved. Expired waivers are marked
    lapsed (their criterion reopens). Idempotent; one query per kind of record."""
    from governance.checks import Refs as RuleRefs
    from governance.checks import rule_annotations
    from governance.models import CriterionLapse

    today = today or timezone.localdate()
    now = timezone.now()
    reviews = {
        r.initiative_id: r
        for r in GateReview.objects.filter(
            status=GateReview.Status.DECIDED,
            decision=Decision.ADVANCE,
            target_stage=F("initiative__stage"),
        )
        .order_by("initiative_id", "-decided_at", "-id")
        .distinct("initiative_id")
    }
    review_ids = [r.pk for r in reviews.values()]
    criteria = list(
        GateCriterionResult.objects.filter(review_id__in=review_ids, mandatory=True).select_related(
            "standard"
        )
    )
    waivers = {
        (w.review_id, w.standard_id): w for w in Waiver.objects.filter(review_id__in=review_ids)
    }
    rule_names = {c.check_rule for c in criteria if c.check_rule in RULES}
    results = {}
    if rule_names and reviews:
        refs = RuleRefs(target_stage="stage", today=today)
        results = {
            row["pk"]: row
            for row in Initiative.objects.filter(pk__in=list(reviews))
            .annotate(**rule_annotations(rule_names, refs))
            .values("pk", *[f"rule_{n}" for n in rule_names])
        }
    lapsed: dict[tuple[int, int], tuple[GateCriterionResult, str]] = {}
    initiative_of = {r.pk: i for i, r in reviews.items()}
    for c in criteria:
        initiative_id = initiative_of[c.review_id]
        waiver = waivers.get((c.review_id, c.standard_id))
        if c.check_rule in RULES:
            met_now = bool(results.get(initiative_id, {}).get(f"rule_{c.check_rule}"))
        else:
            met_now = c.met  # manual evidence given at the gate stands
        if met_now:
            continue
        if waiver is not None and waiver.expires_on >= today:
            continue
        if waiver is not None:
            reason = f"The waiver expired on {waiver.expires_on:%d %b %Y}; the criterion is unmet."
        elif c.check_rule in RULES:
            reason = RULES[c.check_rule].detail_unmet
        else:
            reason = "No longer met."
        lapsed[(initiative_id, c.standard_id)] = (c, reason)
    open_rows = {
        (x.initiative_id, x.standard_id): x
        for x in CriterionLapse.objects.filter(resolved_on__isnull=True)
    }
    with acting_as(acting_user):
        CriterionLapse.objects.bulk_create(
            [
                CriterionLapse(
                    initiative_id=key[0],
                    business_unit_id=c.business_unit_id,
                    review_id=c.review_id,
                    standard_id=c.standard_id,
                    code=c.code,
                    name=c.name,
                    reason=reason[:300],
                    detected_on=today,
                )
                for key, (c, reason) in lapsed.items()
                if key not in open_rows
            ]
        )
        resolved = [x.pk for key, x in open_rows.items() if key not in lapsed]
        CriterionLapse.objects.filter(pk__in=resolved).update(resolved_on=today, updated_at=now)
        expired = Waiver.objects.filter(expires_on__lt=today, lapsed_at__isnull=True).update(
            lapsed_at=now, updated_at=now
        )
    return {
        "lapsed": len(lapsed),
        "new": len([k for k in lapsed if k not in open_rows]),
        "resolved": len(resolved),
        "waivers_expired": expired,
    }
