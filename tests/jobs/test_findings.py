"""Each job's finding logic, with time frozen on the day before and the day after its
limit (time-machine). A limit of N days from day D is breached on D + N + 1."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from finance.findings import budget_variance
from governance import findings as gov
from governance.models import ModelVersion
from portfolio.findings import kpis_without_measurement
from portfolio.models import StagePolicy
from tests.factories import (
    AssignmentFactory,
    BudgetFactory,
    ControlAttestationFactory,
    FairnessAuditFactory,
    IncidentFactory,
    KPIFactory,
    MeasurementFactory,
    ModelVersionFactory,
    RiskAssessmentFactory,
    SpendEntryFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

D = dt.date(2026, 3, 2)


def at(day: dt.date):
    """Freeze the clock at noon on ``day``."""
    return time_machine.travel(
        dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC), tick=False
    )


def keys(findings):
    return {f.key.split(":")[0] + ":" + f.key.split(":")[1] for f in findings}


def today():
    return timezone.localdate()


# --- stalled initiatives ---------------------------------------------------------------


def test_initiative_is_stalled_the_day_after_its_stage_limit_not_the_day_before(initiative_a):
    StagePolicy.objects.create(stage="proof_of_concept", limit_days=100, inactivity_days=10_000)
    initiative_a.stage_entered_at = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    initiative_a.save()
    limit_day = dt.date(2026, 1, 1) + dt.timedelta(days=100)
    with at(limit_day - dt.timedelta(days=1)):
        assert gov.stalled_initiatives(today=today()) == []
    with at(limit_day):
        assert gov.stalled_initiatives(today=today()) == []
    with at(limit_day + dt.timedelta(days=1)):
        [finding] = gov.stalled_initiatives(today=today())
    assert finding.key == f"stalled:{initiative_a.pk}:proof_of_concept"
    assert finding.business_unit_id == initiative_a.business_unit_id
    assert "101 days in proof of concept (limit 100)" in finding.body
    assert finding.groups == ("PMO",)


def test_initiative_without_activity_for_the_inactivity_period_is_stalled(initiative_a):
    StagePolicy.objects.create(stage="proof_of_concept", limit_days=10_000, inactivity_days=30)
    initiative_a.stage_entered_at = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    initiative_a.save()
    with at(dt.date(2026, 1, 31)):
        assert gov.stalled_initiatives(today=today()) == []
    with at(dt.date(2026, 2, 1)):
        [finding] = gov.stalled_initiatives(today=today())
    assert "no activity for 31 days (limit 30)" in finding.body.lower()


def test_a_recent_measurement_counts_as_activity(initiative_a):
    StagePolicy.objects.create(stage="proof_of_concept", limit_days=10_000, inactivity_days=30)
    initiative_a.stage_entered_at = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    initiative_a.save()
    kpi = KPIFactory(initiative=initiative_a)
    with at(dt.date(2026, 1, 20)):
        MeasurementFactory(kpi=kpi, measured_on=dt.date(2026, 1, 20))
    with at(dt.date(2026, 2, 1)):
        assert gov.stalled_initiatives(today=today()) == []


# --- KPIs --------------------------------------------------------------------------------


def test_monthly_kpi_is_unmeasured_the_day_after_31_days_plus_grace(initiative_a, settings):
    settings.JOBS_KPI_GRACE_DAYS = 7
    with at(D - dt.timedelta(days=60)):
        kpi = KPIFactory(initiative=initiative_a, cadence="monthly")
    MeasurementFactory(kpi=kpi, measured_on=D)
    with at(D + dt.timedelta(days=38)):
        assert kpis_without_measurement(today=today()) == []
    with at(D + dt.timedelta(days=39)):
        [finding] = kpis_without_measurement(today=today())
    assert finding.key == f"kpi_unmeasured:{kpi.pk}"
    assert "last measured on 02 Mar 2026" in finding.body


@pytest.mark.parametrize(("cadence", "days"), [("weekly", 7), ("quarterly", 92)])
def test_kpi_window_follows_its_cadence(initiative_a, settings, cadence, days):
    settings.JOBS_KPI_GRACE_DAYS = 3
    with at(D - dt.timedelta(days=200)):
        kpi = KPIFactory(initiative=initiative_a, cadence=cadence)
    MeasurementFactory(kpi=kpi, measured_on=D)
    with at(D + dt.timedelta(days=days + 3)):
        assert kpis_without_measurement(today=today()) == []
    with at(D + dt.timedelta(days=days + 4)):
        assert len(kpis_without_measurement(today=today())) == 1


def test_a_never_measured_kpi_counts_from_the_day_it_was_defined(initiative_a, settings):
    settings.JOBS_KPI_GRACE_DAYS = 7
    with at(D):
        KPIFactory(initiative=initiative_a, cadence="weekly")
    with at(D + dt.timedelta(days=14)):
        assert kpis_without_measurement(today=today()) == []
    with at(D + dt.timedelta(days=15)):
        [finding] = kpis_without_measurement(today=today())
    assert "never measured" in finding.body


def test_kpis_of_killed_initiatives_are_not_chased(initiative_a):
    with at(D - dt.timedelta(days=400)):
        KPIFactory(initiative=initiative_a, cadence="weekly")
    initiative_a.stage = "killed"
    initiative_a.save()
    with at(D):
        assert kpis_without_measurement(today=today()) == []


# --- governance ----------------------------------------------------------------------------


def test_risk_review_is_overdue_the_day_after_it_was_due(initiative_a):
    owner = UserFactory()
    AssignmentFactory(initiative=initiative_a, role="risk_owner", user=owner)
    ra = RiskAssessmentFactory(initiative=initiative_a, next_review_due=D)
    RiskAssessmentFactory(initiative=initiative_a, next_review_due=D, status="superseded")
    with at(D):
        assert gov.overdue_risk_reviews(today=today()) == []
    with at(D + dt.timedelta(days=1)):
        [finding] = gov.overdue_risk_reviews(today=today())
    assert finding.key.startswith(f"risk_review_overdue:{ra.pk}:")
    assert finding.user_ids == (owner.pk,)


def test_attestation_is_flagged_from_n_days_before_it_expires(initiative_a):
    att = ControlAttestationFactory(initiative=initiative_a, expires_on=D)
    with at(D - dt.timedelta(days=31)):
        assert gov.expiring_attestations(today=today(), within_days=30) == []
    with at(D - dt.timedelta(days=30)):
        [finding] = gov.expiring_attestations(today=today(), within_days=30)
    assert finding.key.startswith(f"attestation_expiring:{att.pk}:")
    assert "expires on 02 Mar 2026" in finding.title
    with at(D + dt.timedelta(days=1)):
        [finding] = gov.expiring_attestations(today=today(), within_days=30)
    assert "expired on" in finding.title


def test_failed_fairness_audit_is_overdue_after_remediation_due_until_a_later_pass(initiative_a):
    FairnessAuditFactory(
        initiative=initiative_a,
        result="fail",
        remediation_plan="Reweight the training data.",
        audited_on=D - dt.timedelta(days=30),
        remediation_due=D,
    )
    with at(D):
        assert gov.overdue_fairness_remediations(today=today()) == []
    with at(D + dt.timedelta(days=1)):
        assert len(gov.overdue_fairness_remediations(today=today())) == 1
    FairnessAuditFactory(initiative=initiative_a, result="pass", audited_on=D)
    with at(D + dt.timedelta(days=1)):
        assert gov.overdue_fairness_remediations(today=today()) == []


def test_post_incident_review_is_overdue_after_review_due_until_completed(initiative_a):
    incident = IncidentFactory(initiative=initiative_a, review_due=D)
    with at(D):
        assert gov.overdue_incident_reviews(today=today()) == []
    with at(D + dt.timedelta(days=1)):
        [finding] = gov.overdue_incident_reviews(today=today())
    assert finding.key == f"incident_review_overdue:{incident.pk}"
    incident.review_completed_on = D
    incident.save()
    with at(D + dt.timedelta(days=1)):
        assert gov.overdue_incident_reviews(today=today()) == []


def test_production_model_is_due_the_day_after_its_retrain_interval(initiative_a, coe):
    mv = ModelVersionFactory(
        ai_system__initiative=initiative_a,
        status=ModelVersion.Status.PRODUCTION,
        approved_by=coe,
        retrain_interval_days=90,
        deployed_at=dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC),
        last_validated_at=dt.datetime(D.year, D.month, D.day, 9, tzinfo=dt.UTC),
    )
    with at(D + dt.timedelta(days=90)):
        assert gov.models_due_for_retraining(today=today()) == []
    with at(D + dt.timedelta(days=91)):
        [finding] = gov.models_due_for_retraining(today=today())
    assert finding.key == f"model_retrain_due:{mv.pk}:{D:%Y%m%d}"
    ModelVersion.objects.filter(pk=mv.pk).update(status=ModelVersion.Status.RETIRED)
    with at(D + dt.timedelta(days=91)):
        assert gov.models_due_for_retraining(today=today()) == []


# --- finance ---------------------------------------------------------------------------------


def test_budget_burning_faster_than_its_budget_is_a_finding_for_the_unit(initiative_a, finance):
    BudgetFactory(
        initiative=initiative_a,
        fiscal_year=2026,
        kind="operational",
        amount=Decimal("100000.00"),
        status="approved",
        approved_by=finance,
    )
    for month in (8, 9, 10):
        SpendEntryFactory(
            initiative=initiative_a,
            posted_on=dt.date(2026, month, 15),
            kind="operational",
            amount=Decimal("40000.00"),
        )
    with at(dt.date(2026, 11, 24)):
        [finding] = budget_variance(today=today())
    assert finding.kind == "budget_variance"
    assert finding.business_unit_id == initiative_a.business_unit_id
    assert finding.groups == ("Finance",)


def test_budget_within_its_limit_is_not_a_finding(initiative_a, finance):
    BudgetFactory(
        initiative=initiative_a,
        fiscal_year=2026,
        kind="operational",
        amount=Decimal("1000000.00"),
        status="approved",
        approved_by=finance,
    )
    SpendEntryFactory(initiative=initiative_a, posted_on=dt.date(2026, 9, 15), kind="operational")
    with at(dt.date(2026, 11, 24)):
        assert budget_variance(today=today()) == []
