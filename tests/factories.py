"""factory_boy factories for every model. Scoped rows take their unit from their parent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from finance import models as fin
from governance import models as gov
from people import models as ppl
from portfolio import models as pf

TODAY = dt.date(2026, 11, 24)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("pw")


class BusinessUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ppl.BusinessUnit
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"BU{n:03d}")
    slug = factory.LazyAttribute(lambda o: o.code.lower())
    name = factory.LazyAttribute(lambda o: f"Unit {o.code}")


class CenterOfExcellenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ppl.CenterOfExcellence

    name = factory.Sequence(lambda n: f"CoE {n}")
    slug = factory.Sequence(lambda n: f"coe-{n}")
    mission = "Help initiatives scale safely."


class TrainingProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ppl.TrainingProgram

    name = factory.Sequence(lambda n: f"AI literacy {n}")
    hours = Decimal("4.0")


class TrainingCompletionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ppl.TrainingCompletion

    program = factory.SubFactory(TrainingProgramFactory)
    user = factory.SubFactory(UserFactory)
    business_unit = factory.SubFactory(BusinessUnitFactory)
    completed_on = TODAY


class ObjectiveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pf.Objective

    code = factory.Sequence(lambda n: f"OBJ-{n}")
    name = factory.Sequence(lambda n: f"Objective {n}")


class InitiativeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pf.Initiative

    code = factory.Sequence(lambda n: f"AI-{n:04d}")
    name = factory.Sequence(lambda n: f"Initiative {n}")
    business_unit = factory.SubFactory(BusinessUnitFactory)
    summary = "Summarise claims with an LLM."
    stage = "proof_of_concept"


class _OfInitiative(factory.django.DjangoModelFactory):
    """Rows that belong to an initiative carry its unit."""

    class Meta:
        abstract = True

    initiative = factory.SubFactory(InitiativeFactory)
    business_unit = factory.LazyAttribute(lambda o: o.initiative.business_unit)


def _unit_viewer(unit):
    """A person the initiative's unit knows (a viewer membership row): an accountability
    role goes only to someone who can reach the unit (portfolio.services.owner_candidates)."""
    from people.models import UnitMembership

    user = UserFactory()
    UnitMembership.objects.create(user=user, business_unit=unit, role="viewer")
    return user


class AssignmentFactory(_OfInitiative):
    class Meta:
        model = pf.Assignment

    role = pf.Assignment.Role.OPERATOR
    user = factory.LazyAttribute(lambda o: _unit_viewer(o.initiative.business_unit))


class KPIFactory(_OfInitiative):
    class Meta:
        model = pf.KPI

    name = factory.Sequence(lambda n: f"Hours saved {n}")
    kind = pf.KPI.Kind.BUSINESS
    category = pf.KPI.Category.TIME_SAVED
    unit = "hours"
    baseline_value = Decimal("0")
    baseline_date = TODAY - dt.timedelta(days=180)
    target_value = Decimal("1000")
    target_date = TODAY + dt.timedelta(days=180)


class MeasurementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pf.Measurement

    kpi = factory.SubFactory(KPIFactory)
    business_unit = factory.LazyAttribute(lambda o: o.kpi.business_unit)
    measured_on = factory.Sequence(lambda n: TODAY - dt.timedelta(days=n))
    value = Decimal("100")


class KPIPeriodValueFactory(factory.django.DjangoModelFactory):
    """A value rollup row is written by the measurements' triggers: record a measurement,
    return its KPI period's row."""

    class Meta:
        model = pf.KPIPeriodValue

    kpi = factory.SubFactory(KPIFactory, value_per_unit=Decimal("10"), value_currency="USD")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        measurement = MeasurementFactory(kpi=kwargs["kpi"])
        return model_class.objects.get(kpi=measurement.kpi, measured_on=measurement.measured_on)


class FlowCohortFactory(factory.django.DjangoModelFactory):
    """A flow rollup row is written by the initiatives' triggers: create an initiative of
    the unit, return its (unit, start quarter) row."""

    class Meta:
        model = pf.FlowCohort

    business_unit = factory.SubFactory(BusinessUnitFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        initiative = InitiativeFactory(business_unit=kwargs["business_unit"], started_on=TODAY)
        return model_class.objects.get(
            business_unit=initiative.business_unit,
            quarter=dt.date(TODAY.year, 3 * ((TODAY.month - 1) // 3) + 1, 1),
        )


class InitiativeFactsFactory(factory.django.DjangoModelFactory):
    """The facts row is written by the initiative's own trigger: create an initiative,
    return its row."""

    class Meta:
        model = pf.InitiativeFacts

    initiative = factory.SubFactory(InitiativeFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.objects.get(initiative=kwargs["initiative"])


class FlowStayFactory(factory.django.DjangoModelFactory):
    """A stay is written by the initiatives' triggers: create an initiative of the unit,
    return its stay."""

    class Meta:
        model = pf.FlowStay

    business_unit = factory.SubFactory(BusinessUnitFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        initiative = InitiativeFactory(business_unit=kwargs["business_unit"])
        return model_class.objects.get(initiative=initiative)


class StageTransitionFactory(_OfInitiative):
    class Meta:
        model = pf.StageTransition

    from_stage = "proof_of_concept"
    to_stage = "initial_production"
    decision = pf.StageTransition.Decision.ADVANCE
    rationale = "Pilot met its targets."
    decided_by = factory.SubFactory(UserFactory)


class AdoptionSnapshotFactory(_OfInitiative):
    class Meta:
        model = pf.AdoptionSnapshot

    as_of = factory.Sequence(lambda n: TODAY - dt.timedelta(days=30 * n))
    eligible_users = 200
    active_users = 120
    satisfaction = Decimal("4.10")


class IntegrationPointFactory(_OfInitiative):
    class Meta:
        model = pf.IntegrationPoint

    system = "Salesforce"
    mode = "embedded"


class ExchangeRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = fin.ExchangeRate
        django_get_or_create = ["currency", "valid_from"]

    currency = "EUR"
    valid_from = dt.date(2025, 1, 1)
    rate = Decimal("1.10")


class BudgetFactory(_OfInitiative):
    class Meta:
        model = fin.Budget

    fiscal_year = 2026
    kind = fin.CostKind.ONE_TIME
    category = fin.CostCategory.COMPUTE
    amount = Decimal("100000.00")
    currency = "USD"
    status = fin.Budget.Status.REQUESTED
    requested_by = factory.SubFactory(UserFactory)
    requested_at = factory.LazyFunction(timezone.now)


class ImportBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = fin.ImportBatch

    source = "erp"
    filename = "postings.csv"


class SpendEntryFactory(_OfInitiative):
    class Meta:
        model = fin.SpendEntry

    posted_on = TODAY
    kind = fin.CostKind.OPERATIONAL
    category = fin.CostCategory.COMPUTE
    amount = Decimal("1250.00")
    currency = "USD"
    vendor = "Cloud Co"
    source = "erp"
    reference = factory.Sequence(lambda n: f"REF-{n:06d}")


class _RollupFactory(_OfInitiative):
    """A rollup row is written by the ledger's triggers: record a posting of the
    initiative, return its row."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        entry = SpendEntryFactory(
            initiative=kwargs["initiative"], business_unit=kwargs["business_unit"]
        )
        keys = {"business_unit_id": entry.business_unit_id, "month": entry.posted_on.replace(day=1)}
        if model_class is fin.SpendInitiativeYear:
            return model_class.objects.get(
                initiative_id=entry.initiative_id, year=entry.posted_on.year
            )
        if model_class is fin.SpendStageMonth:
            keys["stage"] = entry.initiative.stage
            return model_class.objects.get(**keys)
        if model_class is fin.SpendInitiativeMonth:
            keys["initiative_id"] = entry.initiative_id
        else:
            keys.update(kind=entry.kind, category=entry.category, currency=entry.currency)
        return model_class.objects.get(**keys)


class SpendUnitMonthFactory(_RollupFactory):
    class Meta:
        model = fin.SpendUnitMonth


class SpendInitiativeMonthFactory(_RollupFactory):
    class Meta:
        model = fin.SpendInitiativeMonth


class SpendInitiativeYearFactory(_RollupFactory):
    class Meta:
        model = fin.SpendInitiativeYear


class SpendStageMonthFactory(_RollupFactory):
    class Meta:
        model = fin.SpendStageMonth


class BudgetUnitYearFactory(_OfInitiative):
    """The budget rollup is written by the budget lines' triggers: approve a line of the
    initiative, return its row."""

    class Meta:
        model = fin.BudgetUnitYear

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        approver = UserFactory()
        line = BudgetFactory(
            initiative=kwargs["initiative"], status="approved", approved_by=approver
        )
        return model_class.objects.get(
            business_unit_id=line.business_unit_id,
            fiscal_year=line.fiscal_year,
            kind=line.kind,
            category=line.category,
            currency=line.currency,
        )


class _ValueRollupFactory(factory.django.DjangoModelFactory):
    """Value rollup rows are written by the triggers: record a measurement of a KPI worth
    money (for a missing-rate row, in a currency without a rate), return the row."""

    class Meta:
        abstract = True

    kpi = factory.SubFactory(KPIFactory, value_per_unit=Decimal("10"), value_currency="USD")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kpi = kwargs["kpi"]
        if model_class is fin.ValueUnitMissing:
            kpi.value_currency = "XTS"  # the ISO code for testing: never has a rate
            kpi.save(update_fields=["value_currency"])
        measurement = MeasurementFactory(kpi=kpi)
        if model_class is fin.ValueSegment:
            return model_class.objects.get(kpi=kpi)
        if model_class is fin.ValueUnitStep:
            return model_class.objects.get(
                business_unit_id=kpi.business_unit_id,
                cadence=kpi.cadence,
                at=pf.KPIPeriodValue.objects.get(
                    kpi=kpi, measured_on=measurement.measured_on
                ).period,
            )
        return model_class.objects.get(business_unit_id=kpi.business_unit_id, currency="XTS")


class ValueSegmentFactory(_ValueRollupFactory):
    class Meta:
        model = fin.ValueSegment


class ValueUnitStepFactory(_ValueRollupFactory):
    class Meta:
        model = fin.ValueUnitStep


class ValueUnitMissingFactory(_ValueRollupFactory):
    class Meta:
        model = fin.ValueUnitMissing


class VarianceMonthFactory(factory.django.DjangoModelFactory):
    """A variance row is written by the triggers: record a posting of the initiative,
    return the row of the month after it (whose window holds the posting)."""

    class Meta:
        model = fin.VarianceMonth

    initiative = factory.SubFactory(InitiativeFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        entry = SpendEntryFactory(initiative=kwargs["initiative"])
        month = (entry.posted_on.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        return model_class.objects.get(initiative_id=entry.initiative_id, month=month)


class FocusImportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = fin.FocusImport

    filename = "bill.csv"
    focus_version = "1.3"
    status = fin.FocusImport.Status.SUCCEEDED


class AllocationRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = fin.AllocationRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    tag_key = "ai-initiative"
    initiative = factory.SubFactory(InitiativeFactory)


class ServiceCategoryMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = fin.ServiceCategoryMapping
        django_get_or_create = ["service_category"]

    service_category = factory.Sequence(lambda n: f"Custom category {n}")
    cost_category = fin.CostCategory.COMPUTE


class FocusSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = fin.FocusSettings
        django_get_or_create = ["id"]

    id = 1


class FocusLineFactory(_OfInitiative):
    """An allocated FOCUS line (pass ``initiative=None, business_unit=None`` for an
    unallocated one)."""

    class Meta:
        model = fin.FocusLine

    line_key = factory.Sequence(lambda n: f"{n:032x}")
    content_hash = "0" * 32
    row_no = factory.Sequence(lambda n: n + 2)
    provider = "AWS"
    billing_account_id = "100000000001"
    billing_period_start = factory.LazyFunction(
        lambda: timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    )
    billing_period_end = factory.LazyAttribute(
        lambda o: o.billing_period_start + dt.timedelta(days=31)
    )
    charge_period_start = factory.LazyAttribute(lambda o: o.billing_period_start)
    charge_period_end = factory.LazyAttribute(
        lambda o: o.billing_period_start + dt.timedelta(hours=1)
    )
    charge_category = "Usage"
    charge_frequency = "Usage-Based"
    billed_cost = Decimal("12.5")
    effective_cost = Decimal("12.5")
    billing_currency = "USD"
    service_category = "AI and Machine Learning"
    service_name = "Amazon Bedrock"
    consumed_quantity = Decimal("100")
    consumed_unit = "1K Tokens"
    ai_model = "claude-sonnet"
    token_type = "input"
    token_count = Decimal("100000")
    business_unit = factory.LazyAttribute(
        lambda o: o.initiative.business_unit if o.initiative else None
    )


class AISystemFactory(_OfInitiative):
    class Meta:
        model = gov.AISystem

    name = factory.Sequence(lambda n: f"Claims model {n}")


class DatasetFactory(_OfInitiative):
    class Meta:
        model = gov.Dataset

    name = factory.Sequence(lambda n: f"Claims 2025 {n}")


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = gov.ModelVersion

    ai_system = factory.SubFactory(AISystemFactory)
    business_unit = factory.LazyAttribute(lambda o: o.ai_system.business_unit)
    version = factory.Sequence(lambda n: f"1.{n}.0")
    created_by = factory.SubFactory(UserFactory)
    metrics = factory.LazyFunction(lambda: {"auc": 0.91})


class RiskAssessmentFactory(_OfInitiative):
    class Meta:
        model = gov.RiskAssessment

    eu_tier = "limited"
    us_high_impact = False
    assessed_on = TODAY - dt.timedelta(days=30)
    next_review_due = TODAY + dt.timedelta(days=335)


class StandardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = gov.Standard

    code = factory.Sequence(lambda n: f"STD-{n}")
    name = factory.Sequence(lambda n: f"Standard {n}")
    dimension = "measurement"
    target_stage = "initial_production"


class ControlFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = gov.Control

    code = factory.Sequence(lambda n: f"CTL-{n}")
    name = factory.Sequence(lambda n: f"Control {n}")


class ControlAttestationFactory(_OfInitiative):
    class Meta:
        model = gov.ControlAttestation

    control = factory.SubFactory(ControlFactory)
    status = gov.ControlAttestation.Status.ATTESTED
    evidence = "Runbook link and test report."
    attested_on = TODAY - dt.timedelta(days=10)
    expires_on = TODAY + dt.timedelta(days=355)


class FairnessAuditFactory(_OfInitiative):
    class Meta:
        model = gov.FairnessAudit

    protected_attributes = factory.LazyFunction(lambda: ["age", "sex"])
    metrics = factory.LazyFunction(lambda: {"age": {"tpr_gap": 0.02}})
    result = gov.FairnessAudit.Result.PASS
    audited_on = TODAY - dt.timedelta(days=20)


class ExplainabilityRecordFactory(_OfInitiative):
    class Meta:
        model = gov.ExplainabilityRecord

    logic = "Gradient-boosted trees over claim features."


class IncidentFactory(_OfInitiative):
    class Meta:
        model = gov.Incident

    title = factory.Sequence(lambda n: f"Drift alert {n}")
    severity = gov.Incident.Severity.MEDIUM
    detected_at = factory.LazyFunction(timezone.now)


class AccessReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = gov.AccessReview

    business_unit = factory.SubFactory(BusinessUnitFactory)
    name = factory.Sequence(lambda n: f"Q4 access review {n}")
    reviewer = factory.SubFactory(UserFactory)
    opened_on = TODAY
    due_on = TODAY + dt.timedelta(days=14)


class AccessReviewItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = gov.AccessReviewItem

    review = factory.SubFactory(AccessReviewFactory)
    business_unit = factory.LazyAttribute(lambda o: o.review.business_unit)
    user = factory.SubFactory(UserFactory)
    role = "member"


class GateReviewFactory(_OfInitiative):
    class Meta:
        model = gov.GateReview

    from_stage = "proof_of_concept"
    target_stage = "initial_production"
    requested_by = factory.SubFactory(UserFactory)
    requested_at = factory.LazyFunction(timezone.now)


class GateCriterionResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = gov.GateCriterionResult

    review = factory.SubFactory(GateReviewFactory)
    business_unit = factory.LazyAttribute(lambda o: o.review.business_unit)
    standard = factory.SubFactory(StandardFactory)
    code = factory.LazyAttribute(lambda o: o.standard.code)
    name = factory.LazyAttribute(lambda o: o.standard.name)
    dimension = "measurement"
    check_rule = "manual"


class WaiverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = gov.Waiver

    review = factory.SubFactory(GateReviewFactory)
    initiative = factory.LazyAttribute(lambda o: o.review.initiative)
    business_unit = factory.LazyAttribute(lambda o: o.review.business_unit)
    standard = factory.SubFactory(StandardFactory)
    reason = "Fairness audit booked for next month; pilot limited to 50 users."
    expires_on = TODAY + dt.timedelta(days=60)
    granted_by = factory.SubFactory(UserFactory)
    granted_at = factory.LazyFunction(timezone.now)


class StagePolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pf.StagePolicy
        django_get_or_create = ["stage"]

    stage = "proof_of_concept"
    limit_days = 183
    inactivity_days = 90


class ScorecardSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pf.ScorecardSnapshot

    business_unit = factory.SubFactory(BusinessUnitFactory)
    month = dt.date(2026, 1, 1)
    scores = factory.LazyFunction(lambda: {"measurement": 50})


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ppl.Job

    kind = "spend_import"
    requested_by = factory.SubFactory(UserFactory)


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ppl.Notification

    user = factory.SubFactory(UserFactory)
    kind = "stalled_initiative"
    finding_key = factory.Sequence(lambda n: f"initiative:{n}")
    period = "2026-W48"
    title = "An initiative is past its stage limit"


class NotificationPreferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ppl.NotificationPreference

    user = factory.SubFactory(UserFactory)
    email_frequency = ppl.NotificationPreference.EmailFrequency.NEVER


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """A token row; use ``people.authentication.api_token_create`` when the secret matters."""

    class Meta:
        model = ppl.ApiToken

    user = factory.SubFactory(UserFactory)
    name = "CI"
    prefix = factory.Sequence(lambda n: f"{n:08x}")
    key_hash = factory.Sequence(lambda n: f"{n:064x}")


class UnitMembershipFactory(factory.django.DjangoModelFactory):
    """The reviewable row only. For the permissions that follow it, call
    ``people.services.sync_membership_permissions`` (or use ``membership_grant``)."""

    class Meta:
        model = ppl.UnitMembership

    user = factory.SubFactory(UserFactory)
    business_unit = factory.SubFactory(BusinessUnitFactory)
    role = ppl.UnitRole.MEMBER


class HeartbeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ppl.Heartbeat
        django_get_or_create = ("name",)

    name = "beat"
    beat_at = factory.LazyFunction(timezone.now)


class CriterionLapseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = gov.CriterionLapse

    review = factory.SubFactory(GateReviewFactory)
    initiative = factory.LazyAttribute(lambda o: o.review.initiative)
    business_unit = factory.LazyAttribute(lambda o: o.review.business_unit)
    standard = factory.SubFactory(StandardFactory)
    code = factory.LazyAttribute(lambda o: o.standard.code)
    name = factory.LazyAttribute(lambda o: o.standard.name)
    reason = "An attestation expired."
    detected_on = TODAY


class ModelDeploymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = gov.ModelDeployment

    model_version = factory.SubFactory(ModelVersionFactory)
    ai_system = factory.LazyAttribute(lambda o: o.model_version.ai_system)
    business_unit = factory.LazyAttribute(lambda o: o.model_version.business_unit)
    started_at = factory.LazyFunction(timezone.now)


class ModelRollbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = gov.ModelRollback

    from_version = factory.SubFactory(ModelVersionFactory)
    ai_system = factory.LazyAttribute(lambda o: o.from_version.ai_system)
    business_unit = factory.LazyAttribute(lambda o: o.from_version.business_unit)
    to_version = factory.LazyAttribute(lambda o: ModelVersionFactory(ai_system=o.ai_system))
    reason = "1.1 drifts on new data."
    requested_by = factory.SubFactory(UserFactory)
    requested_at = factory.LazyFunction(timezone.now)
