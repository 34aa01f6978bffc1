"""The scorecard's per-initiative facts (``InitiativeFacts``) equal their definition over
the raw records after every kind of write: services, ORM saves and bulk updates (the
admin's and forms' paths), the API, raw SQL, deletes, on portfolio's tables (objectives,
KPIs and their measurements, assignments, initiatives) and governance's (AI systems,
model versions, risk assessments); and two transactions writing one initiative at once
leave no stale row."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from governance.models import AISystem, ModelVersion, RiskAssessment
from portfolio import facts
from portfolio.models import KPI, Assignment, Initiative, InitiativeFacts, Measurement
from portfolio.services import measurement_record
from tests import factories as f

pytestmark = pytest.mark.django_db

ROLES = ("requirements_owner", "operator", "accountable_executive")

# The definition, as the scorecard asked it of the raw records (one row per initiative).
DEFINITION = """
SELECT i.id,
    EXISTS (SELECT 1 FROM portfolio_initiative_objectives o WHERE o.initiative_id = i.id),
    EXISTS (SELECT 1 FROM portfolio_kpi k WHERE k.initiative_id = i.id
            AND k.kind = 'business' AND k.baseline_value IS NOT NULL),
    (SELECT COUNT(DISTINCT a.role) FROM portfolio_assignment a WHERE a.initiative_id = i.id
       AND a.role IN ('requirements_owner', 'operator', 'accountable_executive')) = 3,
    (SELECT MAX(m.measured_on) FROM portfolio_kpi k JOIN portfolio_measurement m
       ON m.kpi_id = k.id WHERE k.initiative_id = i.id AND k.kind = 'operational'),
    EXISTS (SELECT 1 FROM governance_aisystem sy JOIN governance_modelversion mv
            ON mv.ai_system_id = sy.id WHERE sy.initiative_id = i.id
            AND mv.status = 'production'),
    (SELECT MAX((mv.last_validated_at AT TIME ZONE 'UTC')::date + mv.retrain_interval_days)
     FROM governance_aisystem sy JOIN governance_modelversion mv ON mv.ai_system_id = sy.id
     WHERE sy.initiative_id = i.id AND mv.status = 'production'
       AND mv.retrain_interval_days IS NOT NULL),
    (SELECT MAX(COALESCE(ra.next_review_due, DATE '9999-12-31'))
     FROM governance_riskassessment ra WHERE ra.initiative_id = i.id
       AND ra.status IN ('current', 'reopened'))
FROM portfolio_initiative i ORDER BY i.id"""
TABLE = """
SELECT initiative_id, aligned, measured, staffed, monitored_on, deployed, revalidation_due,
       review_due
FROM portfolio_initiativefacts ORDER BY initiative_id"""


def _rows(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def assert_facts_exact():
    assert _rows(TABLE) == _rows(DEFINITION)


def _facts(initiative) -> InitiativeFacts:
    return InitiativeFacts.objects.get(initiative_id=initiative.pk)


def test_objectives_kpis_and_roles_keep_the_portfolio_facts_exact(initiative_a, lead_a):
    assert not _facts(initiative_a).aligned  # a row from the initiative's creation
    objective = f.ObjectiveFactory()
    initiative_a.objectives.add(objective)
    assert _facts(initiative_a).aligned
    assert_facts_exact()
    initiative_a.objectives.remove(objective)
    assert not _facts(initiative_a).aligned
    initiative_a.objectives.add(objective)
    objective.delete()  # the link goes with it
    assert not _facts(initiative_a).aligned
    assert_facts_exact()

    kpi = f.KPIFactory(initiative=initiative_a, kind="business", baseline_value=5)
    assert _facts(initiative_a).measured
    KPI.objects.filter(pk=kpi.pk).update(baseline_value=None)  # bulk update
    assert not _facts(initiative_a).measured
    kpi.refresh_from_db()
    kpi.baseline_value = Decimal("3")
    kpi.save()  # the form's and admin's save
    assert _facts(initiative_a).measured
    assert_facts_exact()

    for role in ROLES:
        f.AssignmentFactory(initiative=initiative_a, role=role, user=lead_a)
    assert _facts(initiative_a).staffed
    Assignment.objects.filter(initiative=initiative_a, role="operator").update(role="contributor")
    assert not _facts(initiative_a).staffed
    Assignment.objects.filter(initiative=initiative_a, role="contributor").update(role="operator")
    assert _facts(initiative_a).staffed
    Assignment.objects.filter(initiative=initiative_a, role="operator").delete()
    assert not _facts(initiative_a).staffed
    assert_facts_exact()


def test_measurements_keep_the_monitored_day_exact(initiative_a, lead_a):
    """The last measurement of the operational KPIs, through the service (which keeps
    the KPI's last_measured_on), corrections and deletes; a business KPI's do not count."""
    today = timezone.localdate()
    operational = f.KPIFactory(initiative=initiative_a, kind="operational")
    business = f.KPIFactory(initiative=initiative_a, kind="business")
    measurement_record(
        acting_user=lead_a, kpi=operational, measured_on=today - dt.timedelta(days=90), value=1
    )
    measurement_record(acting_user=lead_a, kpi=business, measured_on=today, value=1)
    assert _facts(initiative_a).monitored_on == today - dt.timedelta(days=90)
    recent = measurement_record(
        acting_user=lead_a, kpi=operational, measured_on=today - dt.timedelta(days=5), value=2
    )
    assert _facts(initiative_a).monitored_on == today - dt.timedelta(days=5)
    assert_facts_exact()
    Measurement.objects.filter(pk=recent.pk).delete()
    assert _facts(initiative_a).monitored_on == today - dt.timedelta(days=90)
    KPI.objects.filter(pk=business.pk).update(kind="operational")  # now it counts
    assert _facts(initiative_a).monitored_on == today
    operational.delete()
    business.delete()
    assert _facts(initiative_a).monitored_on is None
    assert_facts_exact()


def test_models_and_risk_assessments_keep_the_governance_facts_exact(
    initiative_a, initiative_b, member_a
):
    today = timezone.localdate()
    system = f.AISystemFactory(initiative=initiative_a)
    version = f.ModelVersionFactory(
        ai_system=system,
        status="production",
        approved_by=member_a,
        retrain_interval_days=30,
        last_validated_at=timezone.now() - dt.timedelta(days=10),
    )
    facts_a = _facts(initiative_a)
    assert facts_a.deployed and facts_a.revalidation_due >= today
    assert_facts_exact()
    ModelVersion.objects.filter(pk=version.pk).update(
        last_validated_at=timezone.now() - dt.timedelta(days=100)
    )
    assert _facts(initiative_a).revalidation_due < today
    ModelVersion.objects.filter(pk=version.pk).update(retrain_interval_days=None)
    assert _facts(initiative_a).revalidation_due is None
    version.refresh_from_db()
    version.status = "retired"
    version.save()
    assert not _facts(initiative_a).deployed
    ModelVersion.objects.filter(pk=version.pk).update(status="production")
    assert_facts_exact()
    # The system moves to another initiative: both initiatives' facts change.
    AISystem.objects.filter(pk=system.pk).update(initiative=initiative_b)
    assert not _facts(initiative_a).deployed and _facts(initiative_b).deployed
    assert_facts_exact()
    version.delete()
    system.delete()
    assert not _facts(initiative_b).deployed
    assert_facts_exact()

    assessment = f.RiskAssessmentFactory(initiative=initiative_a, next_review_due=None)
    # No review date: 9999-12-31, never overdue.
    assert _facts(initiative_a).review_due == dt.date.max
    RiskAssessment.objects.filter(pk=assessment.pk).update(
        next_review_due=today - dt.timedelta(days=1)
    )
    assert _facts(initiative_a).review_due == today - dt.timedelta(days=1)
    RiskAssessment.objects.filter(pk=assessment.pk).update(status="superseded")
    assert _facts(initiative_a).review_due is None
    RiskAssessment.objects.filter(pk=assessment.pk).update(status="reopened")
    assert_facts_exact()
    assessment.delete()
    assert _facts(initiative_a).review_due is None
    assert_facts_exact()


def test_initiatives_created_by_the_api_and_deleted_have_their_row(client, pmo, unit_a):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(pmo)
    response = api.post(
        "/api/v1/initiatives/",
        {"code": "AI-F-1", "name": "Facts", "business_unit": unit_a.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = Initiative.objects.get(code="AI-F-1")
    assert InitiativeFacts.objects.filter(initiative_id=created.pk).exists()
    assert_facts_exact()
    created.delete()
    assert not InitiativeFacts.objects.filter(initiative_id=created.pk).exists()
    with connection.cursor() as cursor:  # raw SQL obeys too
        cursor.execute(
            "INSERT INTO portfolio_assignment (initiative_id, role, user_id, business_unit_id,"
            " created_at, updated_at) SELECT i.id, 'operator', %s, i.business_unit_id, now(),"
            " now() FROM portfolio_initiative i",
            [pmo.pk],
        )
    assert_facts_exact()


def test_rebuild_restores_damaged_facts(initiative_a, lead_a):
    from governance import facts as governance_facts

    f.KPIFactory(initiative=initiative_a, kind="business", baseline_value=5)
    f.AISystemFactory(initiative=initiative_a)
    InitiativeFacts.objects.update(measured=False, deployed=True)
    InitiativeFacts.objects.create(initiative_id=987654)  # an initiative that does not exist
    facts.rebuild()
    governance_facts.rebuild()
    assert_facts_exact()


@pytest.mark.django_db(transaction=True)
def test_two_transactions_naming_roles_at_once_leave_the_initiative_staffed(unit_a):
    """One transaction names the operator and stays open; another names the accountable
    executive meanwhile. Each recomputes the facts under the row's lock, so the second
    waits and then sees the first's role: staffed. (Without the lock each would compute
    from what it sees alone, and both would write 'not staffed'.)"""
    initiative = f.InitiativeFactory(business_unit=unit_a)
    users = [f.UserFactory() for _ in ROLES]
    f.AssignmentFactory(initiative=initiative, role=ROLES[0], user=users[0])
    named = threading.Event()
    errors: list[BaseException] = []

    def first():
        try:
            with transaction.atomic():
                f.AssignmentFactory(initiative=initiative, role=ROLES[1], user=users[1])
                named.set()
                threading.Event().wait(0.5)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            named.set()
        finally:
            close_old_connections()

    thread = threading.Thread(target=first)
    thread.start()
    named.wait(5)
    f.AssignmentFactory(initiative=initiative, role=ROLES[2], user=users[2])
    thread.join(10)
    assert not errors
    assert _facts(initiative).staffed
    assert_facts_exact()
    Assignment.objects.all().delete()
    initiative.delete()
