"""Every scoped model obeys the scoping rule. The list of scoped models is read from the
app registry, so a new scoped model without a factory here fails the meta-test."""

import pytest
from django.apps import apps

from people.querysets import ScopedQuerySet
from tests import factories as f

pytestmark = pytest.mark.django_db


def _lapse(unit):
    from django.utils import timezone

    from governance.models import CriterionLapse

    review = f.GateReviewFactory(initiative__business_unit=unit)
    std = f.StandardFactory()
    return CriterionLapse.objects.create(
        initiative=review.initiative,
        business_unit=unit,
        review=review,
        standard=std,
        code=std.code,
        name=std.name,
        reason="Lapsed.",
        detected_on=timezone.localdate(),
    )


def _deployment(unit):
    from django.utils import timezone

    from governance.models import ModelDeployment

    mv = f.ModelVersionFactory(ai_system__initiative__business_unit=unit)
    return ModelDeployment.objects.create(
        ai_system=mv.ai_system, business_unit=unit, model_version=mv, started_at=timezone.now()
    )


def _rollback(unit):
    from tests.api.cases import _rollback as make

    return make(unit)


# model label -> factory building a row of a given unit
FACTORIES = {
    "people.BusinessUnit": None,  # the unit itself: covered by its own tests below
    "people.UnitMembership": lambda unit: f.UserFactory().unit_memberships.create(
        business_unit=unit
    ),
    "people.TrainingCompletion": lambda unit: f.TrainingCompletionFactory(business_unit=unit),
    "portfolio.Initiative": lambda unit: f.InitiativeFactory(business_unit=unit),
    "portfolio.Assignment": lambda unit: f.AssignmentFactory(initiative__business_unit=unit),
    "portfolio.StageTransition": lambda unit: f.StageTransitionFactory(
        initiative__business_unit=unit
    ),
    "portfolio.KPI": lambda unit: f.KPIFactory(initiative__business_unit=unit),
    "portfolio.Measurement": lambda unit: f.MeasurementFactory(kpi__initiative__business_unit=unit),
    "portfolio.AdoptionSnapshot": lambda unit: f.AdoptionSnapshotFactory(
        initiative__business_unit=unit
    ),
    "portfolio.IntegrationPoint": lambda unit: f.IntegrationPointFactory(
        initiative__business_unit=unit
    ),
    "finance.Budget": lambda unit: f.BudgetFactory(initiative__business_unit=unit),
    "finance.SpendEntry": lambda unit: f.SpendEntryFactory(initiative__business_unit=unit),
    "finance.FocusLine": lambda unit: f.FocusLineFactory(initiative__business_unit=unit),
    # Rollup rows: written by the ledger's triggers when a posting is recorded.
    "finance.SpendUnitMonth": lambda unit: f.SpendUnitMonthFactory(initiative__business_unit=unit),
    "finance.SpendInitiativeMonth": lambda unit: f.SpendInitiativeMonthFactory(
        initiative__business_unit=unit
    ),
    # Value rollup rows: written by the measurements' triggers.
    "portfolio.KPIPeriodValue": lambda unit: f.KPIPeriodValueFactory(
        kpi__initiative__business_unit=unit
    ),
    # Flow rollup rows: written by the initiatives' triggers.
    "portfolio.FlowCohort": lambda unit: f.FlowCohortFactory(business_unit=unit),
    "portfolio.FlowStay": lambda unit: f.FlowStayFactory(business_unit=unit),
    "finance.SpendInitiativeYear": lambda unit: f.SpendInitiativeYearFactory(
        initiative__business_unit=unit
    ),
    "portfolio.InitiativeFacts": lambda unit: f.InitiativeFactsFactory(
        initiative__business_unit=unit
    ),
    "finance.SpendStageMonth": lambda unit: f.SpendStageMonthFactory(
        initiative__business_unit=unit
    ),
    "finance.BudgetUnitYear": lambda unit: f.BudgetUnitYearFactory(initiative__business_unit=unit),
    "finance.ValueSegment": lambda unit: f.ValueSegmentFactory(kpi__initiative__business_unit=unit),
    "finance.ValueUnitStep": lambda unit: f.ValueUnitStepFactory(
        kpi__initiative__business_unit=unit
    ),
    "finance.ValueUnitMissing": lambda unit: f.ValueUnitMissingFactory(
        kpi__initiative__business_unit=unit
    ),
    "governance.AISystem": lambda unit: f.AISystemFactory(initiative__business_unit=unit),
    "governance.Dataset": lambda unit: f.DatasetFactory(initiative__business_unit=unit),
    "governance.ModelVersion": lambda unit: f.ModelVersionFactory(
        ai_system__initiative__business_unit=unit
    ),
    "governance.RiskAssessment": lambda unit: f.RiskAssessmentFactory(
        initiative__business_unit=unit
    ),
    "governance.ControlAttestation": lambda unit: f.ControlAttestationFactory(
        initiative__business_unit=unit
    ),
    "governance.FairnessAudit": lambda unit: f.FairnessAuditFactory(initiative__business_unit=unit),
    "governance.ExplainabilityRecord": lambda unit: f.ExplainabilityRecordFactory(
        initiative__business_unit=unit
    ),
    "governance.Incident": lambda unit: f.IncidentFactory(initiative__business_unit=unit),
    "governance.AccessReview": lambda unit: f.AccessReviewFactory(business_unit=unit),
    "governance.AccessReviewItem": lambda unit: f.AccessReviewItemFactory(
        review__business_unit=unit
    ),
    "governance.GateReview": lambda unit: f.GateReviewFactory(initiative__business_unit=unit),
    "governance.GateCriterionResult": lambda unit: f.GateCriterionResultFactory(
        review__initiative__business_unit=unit
    ),
    "governance.Waiver": lambda unit: f.WaiverFactory(review__initiative__business_unit=unit),
    "portfolio.ScorecardSnapshot": lambda unit: f.ScorecardSnapshotFactory(business_unit=unit),
    "governance.CriterionLapse": lambda unit: _lapse(unit),
    "governance.ModelDeployment": lambda unit: _deployment(unit),
    "governance.ModelRollback": lambda unit: _rollback(unit),
}

MONEY = {"finance.Budget", "finance.SpendEntry"}


def scoped_model_labels():
    return sorted(
        m._meta.label
        for m in apps.get_models()
        if m._meta.app_label in {"people", "portfolio", "finance", "governance"}
        and isinstance(m._default_manager.all(), ScopedQuerySet)
    )


def test_every_scoped_model_has_a_scoping_test():
    missing = set(scoped_model_labels()) - set(FACTORIES)
    assert not missing, f"add these scoped models to FACTORIES: {sorted(missing)}"


ROW_LABELS = sorted(label for label, factory in FACTORIES.items() if factory)


@pytest.mark.parametrize("label", ROW_LABELS)
def test_unit_lead_sees_own_unit_rows_never_another_units(label, lead_a, lead_b, unit_a, unit_b):
    model = apps.get_model(label)
    own, other = FACTORIES[label](unit_a), FACTORIES[label](unit_b)
    visible_to_a = set(model.objects.visible_to(lead_a).values_list("pk", flat=True))
    assert own.pk in visible_to_a
    assert other.pk not in visible_to_a
    assert other.pk not in set(model.objects.editable_by(lead_a).values_list("pk", flat=True))
    assert own.pk not in set(model.objects.visible_to(lead_b).values_list("pk", flat=True))


@pytest.mark.parametrize("label", ROW_LABELS)
def test_auditor_reads_every_row_and_can_change_none(label, auditor, unit_a, unit_b):
    model = apps.get_model(label)
    rows = {FACTORIES[label](unit_a).pk, FACTORIES[label](unit_b).pk}
    assert rows <= set(model.objects.visible_to(auditor).values_list("pk", flat=True))
    assert not model.objects.editable_by(auditor).exists()


@pytest.mark.parametrize("label", sorted(MONEY))
def test_finance_reads_and_changes_money_everywhere(label, finance, unit_a, unit_b):
    model = apps.get_model(label)
    rows = {FACTORIES[label](unit_a).pk, FACTORIES[label](unit_b).pk}
    assert rows <= set(model.objects.visible_to(finance).values_list("pk", flat=True))
    assert rows <= set(model.objects.editable_by(finance).values_list("pk", flat=True))


def test_outsider_sees_no_row_of_any_scoped_model(outsider, unit_a):
    for label in ROW_LABELS:
        FACTORIES[label](unit_a)
    for label in ROW_LABELS:
        assert not apps.get_model(label).objects.visible_to(outsider).exists(), label


def test_unit_lead_sees_own_unit_and_children_in_the_unit_list(
    lead_a, unit_a, unit_a_child, unit_b
):
    from people.models import BusinessUnit

    assert set(BusinessUnit.objects.visible_to(lead_a)) == {unit_a, unit_a_child}
