"""Reads for governance: gate checklists, blocked and stalled initiatives, history.

Everything scoped goes through ``visible_to(user)``; rollups are computed by the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.apps import apps
from django.db.models import (
    Count,
    Exists,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.utils import timezone

from governance.checks import RULES, evaluate_rules, stage_position
from governance.models import (
    Control,
    ControlAttestation,
    GateCriterionResult,
    GateReview,
    ModelVersion,
    Standard,
    Waiver,
)
from portfolio.choices import ACTIVE_STAGES
from portfolio.models import Initiative

# --- Stage gates -------------------------------------------------------------------------


def applicable_standards(*, risk_tier: str, target_stage: str) -> QuerySet[Standard]:
    """Active standards checked before ``target_stage`` for an initiative of ``risk_tier``
    (a standard with no tiers applies to all)."""
    return Standard.objects.filter(active=True, target_stage=target_stage).filter(
        Q(applies_to_tiers__len=0) | Q(applies_to_tiers__contains=[risk_tier])
    )


def missing_controls(*, initiative: Initiative, target_stage: str, today=None) -> list[Control]:
    """Controls the initiative's tier requires by ``target_stage`` that have no valid
    attestation (attested or not applicable, and not expired). One query."""
    today = today or timezone.localdate()
    valid = ControlAttestation.objects.filter(
        initiative_id=initiative.pk,
        control_id=OuterRef("pk"),
        status__in=[ControlAttestation.Status.ATTESTED, ControlAttestation.Status.NOT_APPLICABLE],
    ).filter(Q(expires_on__isnull=True) | Q(expires_on__gte=today))
    return list(
        Control.objects.applicable(tier=initiative.risk_tier, source=initiative.source)
        .annotate(from_pos=stage_position(F("applies_from_stage")))
        .filter(from_pos__lte=list(ACTIVE_STAGES).index(target_stage) + 1)
        .filter(~Exists(valid))
        .order_by("code")
    )


@dataclass
class ChecklistLine:
    standard: Standard
    met: bool
    detail: str = ""
    evidence: str = ""
    waiver: Waiver | None = None

    # The same names as a stored GateCriterionResult, so templates show either.
    code = property(lambda self: self.standard.code)
    name = property(lambda self: self.standard.name)
    mandatory = property(lambda self: self.standard.mandatory)
    check_rule = property(lambda self: self.standard.check_rule)
    standard_id = property(lambda self: self.standard.pk)

    def get_dimension_display(self) -> str:
        return self.standard.get_dimension_display()

    @property
    def manual(self) -> bool:
        return self.standard.check_rule not in RULES

    @property
    def blocking(self) -> bool:
        return self.standard.mandatory and not self.met and self.waiver is None


@dataclass
class Checklist:
    lines: list[ChecklistLine] = field(default_factory=list)

    @property
    def blocking(self) -> list[ChecklistLine]:
        return [line for line in self.lines if line.blocking]

    @property
    def passed(self) -> bool:
        return not self.blocking


def compute_checklist(
    *,
    initiative: Initiative,
    target_stage: str,
    review: GateReview | None = None,
    today: date | None = None,
) -> Checklist:
    """The gate's checklist from the standards and the initiative's records, now.

    Automatic rules are evaluated in one query; manual criteria are met when the team
    has given evidence on this review; waivers come from the review. Four queries."""
    standards = list(
        applicable_standards(risk_tier=initiative.risk_tier, target_stage=target_stage)
    )
    results = evaluate_rules(
        initiative.pk, target_stage, [s.check_rule for s in standards], today=today
    )
    evidence, waivers = {}, {}
    if review is not None and review.pk:
        evidence = {
            r.standard_id: r.evidence
            for r in GateCriterionResult.objects.filter(review=review).exclude(evidence="")
        }
        waivers = {w.standard_id: w for w in Waiver.objects.filter(review=review)}
    lines = []
    for std in standards:
        if std.check_rule in RULES:
            met = bool(results.get(std.check_rule))
            detail = "" if met else RULES[std.check_rule].detail_unmet
        else:
            met = bool(evidence.get(std.pk))
            detail = "" if met else "Manual criterion: the team has not given evidence yet."
        lines.append(
            ChecklistLine(
                standard=std,
                met=met,
                detail=detail,
                evidence=evidence.get(std.pk, ""),
                waiver=waivers.get(std.pk),
            )
        )
    return Checklist(lines=lines)


def gate_reviews_for(user) -> QuerySet[GateReview]:
    """Gate reviews the user may see, with the counts the lists show (from the snapshot
    refreshed at request, on evidence, on recheck and nightly)."""
    return (
        GateReview.objects.visible_to(user)
        .select_related("initiative", "business_unit", "requested_by", "decided_by")
        .annotate(
            criteria_total=Count("criteria", distinct=True),
            blocking_count=Count(
                "criteria",
                filter=Q(criteria__mandatory=True, criteria__met=False),
                distinct=True,
            ),
        )
    )


def blocked_gate_reviews(user) -> QuerySet[GateReview]:
    """Open gate reviews with at least one mandatory criterion unmet: what PMO chases."""
    return gate_reviews_for(user).filter(status=GateReview.Status.OPEN, blocking_count__gt=0)


def blocking_criteria_for(reviews) -> dict[int, list[GateCriterionResult]]:
    """The unmet mandatory criteria of a page of reviews, in one query."""
    out: dict[int, list[GateCriterionResult]] = {}
    for row in GateCriterionResult.objects.filter(
        review__in=[r.pk for r in reviews], mandatory=True, met=False
    ).order_by("review_id", "code"):
        out.setdefault(row.review_id, []).append(row)
    return out


# --- Stall rules ---------------------------------------------------------------------------


def stalled_initiatives(
    user, *, now: datetime | None = None, today: date | None = None
) -> QuerySet[Initiative]:
    """Visible stalled initiatives by the one stall rule (``InitiativeQuerySet.with_stall``:
    past the stage's limit, idle for its inactivity period by the business dates of the
    records, or with a stall review awaiting its decision), judged on ``today`` (or the
    day of ``now``). Each row carries ``limit_days``, ``inactivity_days``,
    ``days_in_stage``, ``days_idle``, ``last_activity_on``, ``past_limit``, ``inactive``
    and ``stall_review_open``, and the open stall review's deadline
    (``decision_due_on``) and escalation level."""
    if today is None:
        today = timezone.localdate(now) if now is not None else timezone.localdate()
    open_review = GateReview.objects.filter(
        initiative_id=OuterRef("pk"), reason=GateReview.Reason.STALLED, status="open"
    )
    return (
        Initiative.objects.visible_to(user)
        .stalled(today=today)
        .annotate(
            review_id=Subquery(open_review.values("pk")[:1]),
            decision_due_on=Subquery(open_review.values("decision_due_on")[:1]),
            escalation_level=Subquery(open_review.values("escalation_level")[:1]),
        )
        .select_related("business_unit")
    )


# --- Model registry --------------------------------------------------------------------------


def production_version_on(*, ai_system, when: datetime) -> ModelVersion | None:
    """The version of ``ai_system`` that was in production at ``when``, answered from the
    audit trail: the recorded states in which a version entered production (its
    ``deployed_at``) and left it (its ``retired_at``), so later edits to the live rows
    cannot change the answer."""
    event_model = apps.get_model("governance", "ModelVersionEvent")
    left_production = (
        event_model.objects.filter(pgh_obj_id=OuterRef("pgh_obj_id"), retired_at__isnull=False)
        .order_by("retired_at")
        .values("retired_at")[:1]
    )
    hit = (
        event_model.objects.filter(
            ai_system_id=ai_system.pk,
            status=ModelVersion.Status.PRODUCTION,
            deployed_at__lte=when,
        )
        .annotate(left_at=Subquery(left_production))
        .filter(Q(left_at__isnull=True) | Q(left_at__gt=when))
        .order_by("-deployed_at", "-pgh_id")
        .values_list("pgh_obj_id", flat=True)
        .first()
    )
    if hit is None:
        return None
    return ModelVersion.objects.filter(pk=hit).first()


# --- Audit trail: governance/audit.py --------------------------------------------------------

# Re-exported: views read the trail through the selectors.
from governance.audit import (  # noqa: E402, F401
    AuditEvent,
    AuditLog,
    audited_models,
    can_read_audit_log,
    object_history,
)


def audit_log(
    *,
    viewer=None,
    event_model: str | None = None,
    user_id: int | None = None,
    object_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> AuditLog:
    """The searchable trail across all audited models (or one), newest first, keyset-paged
    (``.page()``). Only for users passing ``can_read_audit_log``."""
    return AuditLog(
        viewer=viewer,
        event_model=event_model,
        user_id=user_id,
        object_id=object_id,
        date_from=date_from,
        date_to=date_to,
    )


# --- Stall decisions ---------------------------------------------------------------------


def overdue_stall_decisions(user, *, today: date | None = None) -> QuerySet[GateReview]:
    """Open stall reviews past their decision deadline, oldest deadline first, with
    ``days_overdue``."""
    from portfolio.querysets import days_between

    today = today or timezone.localdate()
    return (
        GateReview.objects.visible_to(user)
        .filter(
            reason=GateReview.Reason.STALLED,
            status=GateReview.Status.OPEN,
            decision_due_on__lt=today,
        )
        .annotate(days_overdue=days_between(Value(today), F("decision_due_on")))
        .select_related("initiative", "business_unit")
        .order_by("decision_due_on", "pk")
    )


def stall_decision_times(user) -> list[dict]:
    """Per unit: decided stall reviews, and the median and 90th percentile of the days
    from asking to deciding. One query."""
    from portfolio.querysets import PercentileCont

    days = Func(
        F("decided_at") - F("requested_at"),
        template="EXTRACT(EPOCH FROM %(expressions)s) / 86400.0",
        output_field=FloatField(),
    )
    return list(
        GateReview.objects.visible_to(user)
        .filter(reason=GateReview.Reason.STALLED, status=GateReview.Status.DECIDED)
        .values("business_unit_id", "business_unit__name")
        .annotate(
            decided=Count("pk"),
            median_days=PercentileCont(days, 0.5),
            p90_days=PercentileCont(days, 0.9),
        )
        .order_by("business_unit__name")
    )
