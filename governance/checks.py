"""Automatic gate rules: each one answers "is this criterion met?" from the initiative's
own records, as a boolean SQL expression, so a checklist for one initiative or for a
whole page of gate reviews is a single query.

A ``Standard.check_rule`` names one of ``RULES``; ``"manual"`` means the data cannot
tell and the team gives evidence that the reviewer weighs.

Finance data: governance never imports ``finance``. The budget and spend rules read
the reverse relations that finance declares on ``Initiative`` (``budgets``,
``spend``) through the ORM, with the status and kind values written as the strings
finance stores (``"approved"``, ``"operational"``). If finance renames them, the rule
tests in ``tests/governance/test_checks.py`` fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.fields import CharField, IntegerField
from django.utils import timezone

from portfolio.choices import ACTIVE_STAGES, IntegrationDepth
from portfolio.models import (
    KPI,
    AdoptionSnapshot,
    Assignment,
    Initiative,
    IntegrationPoint,
    Measurement,
)

MANUAL = "manual"

# The stage order as SQL, so "controls required from this stage on" compares in the DB.
_STAGE_ARRAY = "ARRAY[{}]::varchar[]".format(", ".join(f"'{s.value}'" for s in ACTIVE_STAGES))


def stage_position(expression) -> Func:
    """1-based position of a stage in the playbook order (NULL for end states)."""
    return Func(
        expression,
        function="array_position",
        template=f"array_position({_STAGE_ARRAY}, %(expressions)s)",
        output_field=IntegerField(),
    )


@dataclass(frozen=True)
class Refs:
    """Where the rule finds the initiative, its risk tier and the stage being entered,
    relative to the queryset being annotated."""

    initiative: str = "pk"
    tier: str = "risk_tier"
    source: str = "source"  # the initiative's import source (controls are scoped by it)
    target_stage: str | None = None  # a field name on the outer row
    target_stage_value: str | None = None  # or a literal stage
    today: date | None = None

    def target(self):
        if self.target_stage:
            return OuterRef(self.target_stage)
        return Value(self.target_stage_value, output_field=CharField())


@dataclass(frozen=True)
class Rule:
    label: str
    build: Callable[[Refs], Exists]
    detail_unmet: str


def _exists(qs):
    return Exists(qs)


def _business_kpi_baseline(r: Refs):
    return _exists(
        KPI.objects.filter(
            initiative_id=OuterRef(r.initiative),
            kind=KPI.Kind.BUSINESS,
            baseline_value__isnull=False,
        )
    )


def _business_kpi_measured(r: Refs):
    since = (r.today or timezone.localdate()) - timedelta(days=120)
    return _exists(
        Measurement.objects.filter(
            kpi__initiative_id=OuterRef(r.initiative),
            kpi__kind=KPI.Kind.BUSINESS,
            measured_on__gte=since,
        )
    )


def _role(role):
    def build(r: Refs):
        return _exists(Assignment.objects.filter(initiative_id=OuterRef(r.initiative), role=role))

    return build


def _objective_linked(r: Refs):
    return _exists(
        Initiative.objectives.through.objects.filter(initiative_id=OuterRef(r.initiative))
    )


def _approved_operational_budget(r: Refs):
    # Reverse relation declared by finance.Budget (related_name="budgets"); no import.
    return _exists(
        Initiative.objects.filter(
            pk=OuterRef(r.initiative), budgets__status="approved", budgets__kind="operational"
        )
    )


def _operational_spend_tracked(r: Refs):
    # Reverse relation declared by finance.SpendEntry (related_name="spend").
    return _exists(Initiative.objects.filter(pk=OuterRef(r.initiative), spend__kind="operational"))


def _risk_assessment_current(r: Refs):
    from governance.models import RiskAssessment

    today = r.today or timezone.localdate()
    return _exists(
        RiskAssessment.objects.filter(
            initiative_id=OuterRef(r.initiative), status=RiskAssessment.Status.CURRENT
        ).filter(Q(next_review_due__isnull=True) | Q(next_review_due__gte=today))
    )


def _applicable_controls(r: Refs):
    from governance.models import Control, control_applies

    return Control.objects.annotate(from_pos=stage_position(F("applies_from_stage"))).filter(
        control_applies(tier=OuterRef(r.tier), source=OuterRef(r.source)),
        from_pos__lte=stage_position(r.target()),
    )


def _controls_attested(r: Refs):
    """Every control that applies to the tier from the target stage has a valid
    attestation (attested and not expired, or declared not applicable)."""
    from governance.models import ControlAttestation

    today = r.today or timezone.localdate()
    valid = ControlAttestation.objects.filter(
        initiative_id=OuterRef(OuterRef(r.initiative)),
        control_id=OuterRef("pk"),
        status__in=[ControlAttestation.Status.ATTESTED, ControlAttestation.Status.NOT_APPLICABLE],
    ).filter(Q(expires_on__isnull=True) | Q(expires_on__gte=today))
    return ~Exists(_applicable_controls(r).filter(~Exists(valid)))


def _fairness_audit_passed(r: Refs):
    """The latest fairness audit of each model version that is in production or staged
    for it passed; an initiative with no such version is judged by its latest audit.
    A pass in June does not outlive a fail in November."""
    from governance.models import FairnessAudit, ModelVersion

    def latest_result(**where):
        return Subquery(
            FairnessAudit.objects.filter(**where)
            .exclude(result=FairnessAudit.Result.PENDING)
            .order_by(F("audited_on").desc(nulls_last=True), "-id")
            .values("result")[:1]
        )

    live = ModelVersion.objects.filter(
        ai_system__initiative_id=OuterRef(r.initiative),
        status__in=[ModelVersion.Status.STAGING, ModelVersion.Status.PRODUCTION],
    )
    unpassed = live.annotate(latest=latest_result(model_version_id=OuterRef("pk"))).filter(
        Q(latest__isnull=True) | ~Q(latest=FairnessAudit.Result.PASS)
    )
    overall = Initiative.objects.filter(pk=OuterRef(r.initiative)).annotate(
        latest=latest_result(initiative_id=OuterRef("pk"))
    )
    return ExpressionWrapper(
        (Exists(live) & ~Exists(unpassed))
        | (~Exists(live) & Exists(overall.filter(latest=FairnessAudit.Result.PASS))),
        output_field=BooleanField(),
    )


def _explainability_with_appeal(r: Refs):
    from governance.models import ExplainabilityRecord

    return _exists(
        ExplainabilityRecord.objects.filter(initiative_id=OuterRef(r.initiative)).exclude(
            appeal_process=""
        )
    )


def _model_version_staged(r: Refs):
    from governance.models import ModelVersion

    return _exists(
        ModelVersion.objects.filter(
            ai_system__initiative_id=OuterRef(r.initiative),
            status__in=[ModelVersion.Status.STAGING, ModelVersion.Status.PRODUCTION],
        )
    )


def _automated_retraining(r: Refs):
    from governance.models import ModelVersion

    return _exists(
        ModelVersion.objects.filter(
            ai_system__initiative_id=OuterRef(r.initiative),
            status=ModelVersion.Status.PRODUCTION,
            retrain_interval_days__isnull=False,
        )
    )


def _monitoring_in_place(r: Refs):
    since = (r.today or timezone.localdate()) - timedelta(days=60)
    return _exists(
        Measurement.objects.filter(
            kpi__initiative_id=OuterRef(r.initiative),
            kpi__kind=KPI.Kind.OPERATIONAL,
            measured_on__gte=since,
        )
    )


def _adoption_measured(r: Refs):
    return _exists(
        AdoptionSnapshot.objects.filter(initiative_id=OuterRef(r.initiative), active_users__gt=0)
    )


_DEEP = [IntegrationDepth.EMBEDDED, IntegrationDepth.AUTOMATED]


def _embedded_in_workflow(r: Refs):
    return _exists(
        IntegrationPoint.objects.filter(initiative_id=OuterRef(r.initiative), mode__in=_DEEP)
    )


def _not_prohibited(r: Refs):
    return _exists(
        Initiative.objects.filter(pk=OuterRef(r.initiative)).exclude(risk_tier="prohibited")
    )


RULES: dict[str, Rule] = {
    "not_prohibited": Rule(
        "Not a prohibited practice (EU AI Act)",
        _not_prohibited,
        "The initiative is assessed as a prohibited practice; it cannot go further.",
    ),
    "business_kpi_baseline": Rule(
        "A business KPI with a baseline",
        _business_kpi_baseline,
        "No business KPI has a baseline value yet.",
    ),
    "business_kpi_measured": Rule(
        "A business KPI measured in the last 120 days",
        _business_kpi_measured,
        "No business KPI has a measurement in the last 120 days.",
    ),
    "objective_linked": Rule(
        "Linked to a strategic objective",
        _objective_linked,
        "The initiative is not linked to any strategic objective.",
    ),
    "requirements_owner": Rule(
        "A named requirements owner",
        _role(Assignment.Role.REQUIREMENTS_OWNER),
        "No requirements owner is assigned.",
    ),
    "named_operator": Rule(
        "A named operator", _role(Assignment.Role.OPERATOR), "No operator is assigned."
    ),
    "accountable_executive": Rule(
        "A named accountable executive",
        _role(Assignment.Role.ACCOUNTABLE_EXECUTIVE),
        "No accountable executive is assigned.",
    ),
    "approved_operational_budget": Rule(
        "An approved operational budget",
        _approved_operational_budget,
        "No operational budget line is approved.",
    ),
    "operational_spend_tracked": Rule(
        "Operational spend is tracked",
        _operational_spend_tracked,
        "No operational spend has been recorded.",
    ),
    "risk_assessment_current": Rule(
        "A current risk assessment",
        _risk_assessment_current,
        "No current risk assessment (missing, reopened or past its review date).",
    ),
    "controls_attested": Rule(
        "Required controls attested",
        _controls_attested,
        "At least one required control has no valid attestation.",
    ),
    "fairness_audit_passed": Rule(
        "A fairness audit passed",
        _fairness_audit_passed,
        "No fairness audit has passed.",
    ),
    "explainability_with_appeal": Rule(
        "Explainability record with an appeal route",
        _explainability_with_appeal,
        "No explainability record says how people appeal or get a human decision.",
    ),
    "model_version_staged": Rule(
        "A model version in staging or production",
        _model_version_staged,
        "No model version has reached staging.",
    ),
    "automated_retraining": Rule(
        "Automated retraining on the production model",
        _automated_retraining,
        "The production model version has no retraining interval.",
    ),
    "monitoring_in_place": Rule(
        "Operational monitoring measured in the last 60 days",
        _monitoring_in_place,
        "No operational KPI (uptime, latency, adoption) measured in the last 60 days.",
    ),
    "adoption_measured": Rule(
        "Adoption measured",
        _adoption_measured,
        "No adoption snapshot with active users.",
    ),
    "embedded_in_workflow": Rule(
        "Embedded in a business workflow",
        _embedded_in_workflow,
        "No integration point is embedded in a workflow or automated.",
    ),
}

RULE_CHOICES = [(MANUAL, "Manual evidence")] + [(k, r.label) for k, r in RULES.items()]


def rule_annotations(rule_names, refs: Refs) -> dict[str, Exists]:
    """``{"rule_<name>": <boolean expression>}`` for the named automatic rules."""
    return {f"rule_{name}": RULES[name].build(refs) for name in rule_names if name in RULES}


def evaluate_rules(initiative_id: int, target_stage: str, rule_names, *, today=None) -> dict:
    """Evaluate the named rules for one initiative in one query: ``{name: bool}``."""
    names = [n for n in set(rule_names) if n in RULES]
    if not names:
        return {}
    refs = Refs(target_stage_value=target_stage, today=today)
    row = (
        Initiative.objects.filter(pk=initiative_id)
        .annotate(**rule_annotations(names, refs))
        .values(*[f"rule_{n}" for n in names])
        .get()
    )
    return {n: row[f"rule_{n}"] for n in names}
