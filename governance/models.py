from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from people.audit import audited
from people.models import CenterOfExcellence, TimeStampedModel, UnitMembership, UnitRole
from portfolio.choices import Dimension, RiskTier, Stage
from portfolio.models import Initiative, UnitOwned

User = settings.AUTH_USER_MODEL


def _tiers_field(**kwargs):
    return ArrayField(
        models.CharField(max_length=12, choices=RiskTier.choices),
        default=list,
        blank=True,
        help_text="Risk tiers this applies to; empty means all tiers.",
        **kwargs,
    )


def _check_named(obj, field: str, unit_id: int | None) -> None:
    """The person in ``field`` may be named on a record of ``unit_id`` (the one rule,
    ``people.selectors.people_for_units``); the admin and forms call this through clean()."""
    from django.core.exceptions import ValidationError

    from people.selectors import may_be_named

    person_id = getattr(obj, f"{field}_id")
    if person_id is None or unit_id is None:
        return
    if not may_be_named(getattr(obj, field), [unit_id]):
        raise ValidationError({field: "Choose someone with a role in the record's unit."})


@audited
class AISystem(UnitOwned):
    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="ai_systems")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    vendor = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "AI system"
        constraints = [
            models.UniqueConstraint(fields=["initiative", "name"], name="ai_system_unique_name"),
        ]
        # The register's default sort (name, ties by id): a page reads 25 index entries.
        indexes = [models.Index(fields=["name", "id"], name="ai_system_name_id")]

    def clean(self):
        super().clean()
        _check_named(
            self, "owner", self.initiative.business_unit_id if self.initiative_id else None
        )

    def __str__(self) -> str:
        return self.name


@audited
class Dataset(UnitOwned):
    initiative = models.ForeignKey(
        Initiative, null=True, blank=True, on_delete=models.SET_NULL, related_name="datasets"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source_system = models.CharField(max_length=200, blank=True)
    contains_pii = models.BooleanField(default=False)
    contains_demographics = models.BooleanField(default=False)
    steward = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def clean(self):
        super().clean()
        unit_id = self.initiative.business_unit_id if self.initiative_id else self.business_unit_id
        _check_named(self, "steward", unit_id)

    def __str__(self) -> str:
        return self.name


@audited
class ModelVersion(UnitOwned):
    class Status(models.TextChoices):
        DEVELOPMENT = "development", "Development"
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"
        RETIRED = "retired", "Retired"

    ai_system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=60)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DEVELOPMENT)
    datasets = models.ManyToManyField(Dataset, blank=True, related_name="model_versions")
    training_run_ref = models.CharField(max_length=200, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    deployed_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retrain_interval_days = models.PositiveIntegerField(null=True, blank=True)
    last_validated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["ai_system", "-created_at"]
        permissions = [("approve_modelversion", "Approve any model version for production")]
        constraints = [
            models.UniqueConstraint(fields=["ai_system", "version"], name="model_version_unique"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("created_by")),
                name="model_approver_not_creator",
            ),
            models.CheckConstraint(
                condition=~Q(status="production") | Q(approved_by__isnull=False),
                name="production_model_is_approved",
            ),
        ]

    def save(self, *args, **kwargs):
        if not self.business_unit_id and self.ai_system_id:
            self.business_unit_id = (
                AISystem.objects.filter(pk=self.ai_system_id)
                .values_list("business_unit_id", flat=True)
                .get()
            )
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.ai_system} {self.version}"


@audited
class RiskAssessment(UnitOwned):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        CURRENT = "current", "Current"
        REOPENED = "reopened", "Reopened"
        SUPERSEDED = "superseded", "Superseded"

    initiative = models.ForeignKey(
        Initiative, on_delete=models.CASCADE, related_name="risk_assessments"
    )
    eu_tier = models.CharField(
        max_length=12, choices=RiskTier.choices, verbose_name="EU AI Act tier"
    )
    us_high_impact = models.BooleanField(
        null=True, blank=True, verbose_name="US federal high-impact"
    )
    us_justification = models.TextField(blank=True, verbose_name="high-impact justification")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CURRENT)
    assessor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assessed_on = models.DateField(null=True, blank=True)
    next_review_due = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    source_data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["initiative", "-assessed_on"]
        indexes = [models.Index(fields=["business_unit", "next_review_due"])]
        permissions = [
            ("lower_risk_tier", "Confirm a lower risk tier for any initiative (outside its team)")
        ]

    def __str__(self) -> str:
        return f"{self.initiative_id} {self.get_eu_tier_display()} ({self.status})"


@audited
class Standard(TimeStampedModel):
    """A shared gate criterion, owned by the PMO or a centre of excellence."""

    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    dimension = models.CharField(max_length=30, choices=Dimension.choices)
    target_stage = models.CharField(
        max_length=24, choices=Stage.choices, help_text="Checked before entering this stage"
    )
    applies_to_tiers = _tiers_field()
    mandatory = models.BooleanField(default=True)
    check_rule = models.CharField(
        max_length=60,
        default="manual",
        help_text="How the gate checks it: an automatic rule's name, or 'manual' evidence",
    )
    owner_coe = models.ForeignKey(
        CenterOfExcellence,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="standards",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["target_stage", "dimension", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


def tier_array(tier) -> object:
    """``tier`` (a value or an expression) as the varchar[] an ``applies_to_tiers``
    containment test needs."""
    if isinstance(tier, str):
        return [tier]
    return models.Func(
        tier, template="ARRAY[%(expressions)s]::varchar[]", output_field=models.CharField()
    )


def control_applies(*, tier, source) -> Q:
    """The one rule for which controls an initiative must attest: the control's tiers are
    empty or include the initiative's tier, and the control is organisation-wide or
    belongs to the source the initiative was imported from. ``tier`` and ``source`` are
    values or expressions (``OuterRef("risk_tier")``)."""
    return (Q(applies_to_tiers__len=0) | Q(applies_to_tiers__contains=tier_array(tier))) & (
        Q(source="") | Q(source=source)
    )


class ControlQuerySet(models.QuerySet):
    def applicable(self, *, tier, source):
        return self.filter(control_applies(tier=tier, source=source))


@audited
class Control(TimeStampedModel):
    """A control that initiatives must attest, by risk tier and from a stage on."""

    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    standard = models.ForeignKey(
        Standard, null=True, blank=True, on_delete=models.SET_NULL, related_name="controls"
    )
    applies_to_tiers = _tiers_field()
    applies_from_stage = models.CharField(
        max_length=24, choices=Stage.choices, default=Stage.INITIAL_PRODUCTION
    )
    validity_days = models.PositiveIntegerField(default=365)
    max_backdate_days = models.PositiveIntegerField(
        default=30, help_text="How far before today an attestation may be dated"
    )
    # Scope: a control created by an inventory import applies only to the initiatives
    # imported from that source; an organisation's own controls (source blank) apply to all.
    source = models.CharField(
        max_length=60,
        blank=True,
        help_text="Import source this control belongs to; blank: applies organisation-wide",
    )

    objects = ControlQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@audited
@pgtrigger.register(
    # Every attestation of a control with a validity period expires: a row written
    # without an expiry (a bulk import, the admin, raw SQL) gets the control's period
    # from the day it was attested.
    pgtrigger.Trigger(
        name="attestation_expiry_from_control",
        when=pgtrigger.Before,
        operation=pgtrigger.Insert | pgtrigger.Update,
        condition=pgtrigger.Condition(
            "NEW.expires_on IS NULL AND NEW.status IN ('attested', 'not_applicable')"
        ),
        func=(
            "NEW.expires_on := COALESCE(NEW.attested_on, CURRENT_DATE) + COALESCE(("
            "SELECT validity_days FROM governance_control WHERE id = NEW.control_id), 365); "
            "RETURN NEW;"
        ),
    )
)
class ControlAttestation(UnitOwned):
    class Status(models.TextChoices):
        ATTESTED = "attested", "Attested"
        NOT_MET = "not_met", "Not met"
        NOT_APPLICABLE = "not_applicable", "Not applicable"
        IN_PROGRESS = "in_progress", "In progress"

    initiative = models.ForeignKey(
        Initiative, on_delete=models.CASCADE, related_name="attestations"
    )
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="attestations")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    evidence = models.TextField(blank=True)
    attested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attested_on = models.DateField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    source_data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["initiative", "control"]
        constraints = [
            models.UniqueConstraint(
                fields=["initiative", "control"], name="one_attestation_per_control"
            ),
            models.CheckConstraint(
                condition=~Q(status="attested") | ~Q(evidence=""),
                name="attestation_needs_evidence",
            ),
        ]
        indexes = [models.Index(fields=["business_unit", "expires_on"])]

    def clean(self):
        """Dates that can be true: not attested in the future, not back-dated beyond
        what the control allows (for a new or re-dated attestation), and an expiry
        after the attestation and within the control's validity period."""
        super().clean()
        from governance.rules import attestation_date_errors

        errors = attestation_date_errors(self)
        if errors:
            raise ValidationError(errors)

    def __str__(self) -> str:
        return f"{self.initiative_id} {self.control_id} {self.status}"


@audited
class FairnessAudit(UnitOwned):
    class Result(models.TextChoices):
        PENDING = "pending", "Pending"
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"

    initiative = models.ForeignKey(
        Initiative, on_delete=models.CASCADE, related_name="fairness_audits"
    )
    model_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fairness_audits",
    )
    protected_attributes = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Metric per group")
    result = models.CharField(max_length=8, choices=Result.choices, default=Result.PENDING)
    auditor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    audited_on = models.DateField(null=True, blank=True)
    remediation_plan = models.TextField(blank=True)
    remediation_due = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["initiative", "-audited_on"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(result="fail") | ~Q(remediation_plan=""),
                name="failed_audit_needs_remediation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.initiative_id} fairness audit {self.result}"


@audited
class ExplainabilityRecord(UnitOwned):
    initiative = models.ForeignKey(
        Initiative, on_delete=models.CASCADE, related_name="explainability_records"
    )
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    logic = models.TextField(help_text="How the system reaches its outputs, in plain words")
    limitations = models.TextField(blank=True)
    intended_use = models.TextField(blank=True)
    appeal_process = models.TextField(
        blank=True, help_text="How affected people appeal or get a human decision"
    )
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["initiative", "-updated_at"]


@audited
class Incident(UnitOwned):
    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        INVESTIGATING = "investigating", "Investigating"
        MITIGATED = "mitigated", "Mitigated"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="incidents")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.OPEN)
    detected_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=1)
    escalation_path = models.TextField(blank=True)
    timeline = models.JSONField(default=list, blank=True)
    reported_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_due = models.DateField(null=True, blank=True, verbose_name="post-incident review due")
    review_summary = models.TextField(blank=True, verbose_name="post-incident review")
    review_completed_on = models.DateField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # When the current escalation level was told; the escalation task counts from here.
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=F("detected_at")),
                name="incident_resolved_after_detected",
            ),
        ]
        indexes = [models.Index(fields=["business_unit", "status"])]

    def __str__(self) -> str:
        return self.title


@audited
class AccessReview(UnitOwned):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200)
    reviewer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    opened_on = models.DateField()
    due_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_on"]

    def __str__(self) -> str:
        return self.name


@audited
class AccessReviewItem(UnitOwned):
    """One membership under review. The user and role are copied so the evidence stays
    after a revocation deletes the membership."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        KEEP = "keep", "Keep"
        REVOKE = "revoke", "Revoke"

    review = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="items")
    membership = models.ForeignKey(
        UnitMembership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=10, choices=UnitRole.choices)
    decision = models.CharField(max_length=8, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["review", "user"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("user")),
                name="review_decider_not_reviewed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role}: {self.decision}"


@audited
class GateReview(UnitOwned):
    """A request to pass a stage gate and its decision.

    The checklist is computed from the shared standards and the initiative's records
    (``governance.checks``); the rows in ``criteria`` are its snapshot, refreshed while
    the review is open and frozen when it is decided."""

    class Status(models.TextChoices):
        OPEN = "open", "Awaiting decision"
        DECIDED = "decided", "Decided"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Reason(models.TextChoices):
        REQUEST = "request", "Requested by the team"
        INCIDENT = "incident", "Severe incident: continue or roll back"
        STALLED = "stalled", "Stalled: needs a decision"

    initiative = models.ForeignKey(
        Initiative, on_delete=models.CASCADE, related_name="gate_reviews"
    )
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.REQUEST)
    from_stage = models.CharField(max_length=24, choices=Stage.choices)
    target_stage = models.CharField(max_length=24, choices=Stage.choices)
    incident = models.ForeignKey(
        "Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="gate_reviews"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    request_note = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    decision = models.CharField(max_length=10, blank=True)
    rationale = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    transition = models.OneToOneField(
        "portfolio.StageTransition",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="gate_review",
    )
    # Stall reviews: decided by a deadline set by the stage's policy, else escalated
    # (1: the accountable executive, 2: the PMO). Written by services and the chase task.
    decision_due_on = models.DateField(null=True, blank=True)
    reminded_on = models.DateField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    escalated_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["initiative"],
                condition=Q(status="open"),
                name="one_open_gate_review",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="gate_decider_not_requester",
            ),
            models.CheckConstraint(
                condition=~Q(status="decided")
                | (Q(decided_by__isnull=False) & ~Q(rationale="") & ~Q(decision="")),
                name="gate_decision_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["business_unit", "status"]),
            models.Index(fields=["reason", "status", "decision_due_on"]),
        ]

    def __str__(self) -> str:
        return f"Gate review #{self.pk}: {self.initiative_id} to {self.target_stage}"


@audited
class GateCriterionResult(UnitOwned):
    """One line of a gate review's checklist, copied from its standard so that the
    decision's evidence stays as it was even if the standard changes later."""

    review = models.ForeignKey(GateReview, on_delete=models.CASCADE, related_name="criteria")
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    dimension = models.CharField(max_length=30, choices=Dimension.choices)
    mandatory = models.BooleanField(default=True)
    check_rule = models.CharField(max_length=60)
    met = models.BooleanField(default=False)
    detail = models.CharField(max_length=300, blank=True)
    evidence = models.TextField(blank=True, help_text="Manual evidence given by the team")
    evidence_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["review", "dimension", "code"]
        constraints = [
            models.UniqueConstraint(fields=["review", "standard"], name="one_result_per_standard"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {'met' if self.met else 'not met'}"


@audited
class Waiver(UnitOwned):
    """Permission to pass a gate with a mandatory criterion unmet, until ``expires_on``."""

    review = models.ForeignKey(GateReview, on_delete=models.CASCADE, related_name="waivers")
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="waivers")
    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="waivers")
    reason = models.TextField()
    expires_on = models.DateField()
    granted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField()
    # A mandatory criterion of a high-risk initiative is not waived by the unit alone.
    co_signed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    co_signed_at = models.DateTimeField(null=True, blank=True)
    # Set when the expiry was processed: the criterion reopened and the team and PMO told.
    lapsed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["expires_on"]
        constraints = [
            models.UniqueConstraint(fields=["review", "standard"], name="one_waiver_per_criterion"),
            models.CheckConstraint(condition=~Q(reason=""), name="waiver_reason_required"),
            models.CheckConstraint(
                condition=Q(co_signed_by__isnull=True) | ~Q(co_signed_by=F("granted_by")),
                name="waiver_cosigner_not_granter",
            ),
        ]
        indexes = [models.Index(fields=["business_unit", "expires_on"])]

    def __str__(self) -> str:
        return f"Waiver of {self.standard_id} until {self.expires_on}"


@audited
class CriterionLapse(UnitOwned):
    """A gate criterion that was met (or waived) when the initiative passed into its
    current stage and no longer is: an expired attestation, a failed audit, an expired
    waiver. Kept by ``governance.services.gate_criteria_recheck``; open lapses are told
    to the team and the PMO and show on the governance gaps page."""

    initiative = models.ForeignKey(
        Initiative, on_delete=models.CASCADE, related_name="criterion_lapses"
    )
    review = models.ForeignKey(GateReview, on_delete=models.CASCADE, related_name="lapses")
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    reason = models.CharField(max_length=300)
    detected_on = models.DateField()
    resolved_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_on", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["initiative", "standard"],
                condition=Q(resolved_on__isnull=True),
                name="one_open_lapse_per_criterion",
            ),
        ]
        indexes = [models.Index(fields=["business_unit", "resolved_on"])]

    def __str__(self) -> str:
        return f"{self.initiative_id} {self.code} lapsed on {self.detected_on}"


@audited
class ModelDeployment(UnitOwned):
    """One period a model version served production for its AI system: promotions and
    roll backs open one and close the one before, so "which version was in production on
    date D" is a range lookup."""

    class Kind(models.TextChoices):
        PROMOTE = "promote", "Promoted"
        ROLL_BACK = "roll_back", "Rolled back to"

    ai_system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="deployments")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="deployments"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PROMOTE)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["ai_system", "-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["ai_system"],
                condition=Q(ended_at__isnull=True),
                name="one_version_in_production",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="deployment_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} from {self.started_at:%Y-%m-%d}"


@audited
class ModelRollback(UnitOwned):
    """A request to put an earlier version of an AI system back into production, with
    its reason; someone other than the requester approves it."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Awaiting approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    ai_system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="rollbacks")
    from_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    to_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="rollback_reason_required"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="rollback_approver_not_requester",
            ),
            models.UniqueConstraint(
                fields=["ai_system"],
                condition=Q(status="requested"),
                name="one_pending_rollback",
            ),
        ]

    def __str__(self) -> str:
        return f"Roll back {self.ai_system} to {self.to_version.version}"
