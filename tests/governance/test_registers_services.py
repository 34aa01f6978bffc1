"""Stall rules, incidents reopening risk, access reviews, model promotion and history."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from governance.models import AccessReviewItem, GateReview, ModelVersion, RiskAssessment
from governance.selectors import production_version_on, stalled_initiatives
from governance.services import (
    access_review_close,
    access_review_decide,
    access_review_open,
    gate_decide,
    incident_report,
    incident_update,
    model_version_promote,
    risk_assessment_record,
)
from people.errors import SeparationOfDutiesError
from people.models import BusinessUnitUserObjectPermission, UnitMembership
from people.scoping import unit_ids_for
from portfolio.models import Initiative, StagePolicy
from tests import factories as f

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)


# --- Stall rules ------------------------------------------------------------------------


def _initiative_entered(unit, when, stage="proof_of_concept"):
    return f.InitiativeFactory(business_unit=unit, stage=stage, stage_entered_at=when)


def test_stalled_at_the_stage_limit_is_not_flagged_one_day_past_is(unit_a, pmo):
    StagePolicy.objects.create(stage="proof_of_concept", limit_days=180, inactivity_days=1000)
    ini = _initiative_entered(unit_a, START)
    at_limit = START + dt.timedelta(days=180)
    assert not stalled_initiatives(pmo, now=at_limit).filter(pk=ini.pk).exists()
    row = stalled_initiatives(pmo, now=at_limit + dt.timedelta(days=1)).get(pk=ini.pk)
    assert row.past_limit and not row.inactive and row.limit_days == 180


def test_default_limit_applies_without_a_policy_row(unit_a, pmo):
    ini = _initiative_entered(unit_a, START)
    with time_machine.travel(START + dt.timedelta(days=183), tick=False):
        assert not stalled_initiatives(pmo).filter(pk=ini.pk, past_limit=True).exists()
    with time_machine.travel(START + dt.timedelta(days=184), tick=False):
        assert stalled_initiatives(pmo).filter(pk=ini.pk, past_limit=True).exists()


def test_inactivity_at_the_period_and_one_day_past_and_activity_resets_it(unit_a, pmo):
    StagePolicy.objects.create(stage="initial_production", limit_days=3650, inactivity_days=30)
    ini = _initiative_entered(unit_a, START, stage="initial_production")
    assert not stalled_initiatives(pmo, now=START + dt.timedelta(days=30)).exists()
    row = stalled_initiatives(pmo, now=START + dt.timedelta(days=31)).get(pk=ini.pk)
    assert row.inactive and not row.past_limit
    # Spend posted on day 20 (its business date, whenever it is imported) is activity.
    f.SpendEntryFactory(initiative=ini, posted_on=(START + dt.timedelta(days=20)).date())
    assert not stalled_initiatives(pmo, now=START + dt.timedelta(days=31)).exists()
    assert stalled_initiatives(pmo, now=START + dt.timedelta(days=51)).filter(pk=ini.pk).exists()
    f.MeasurementFactory(
        kpi=f.KPIFactory(initiative=ini), measured_on=(START + dt.timedelta(days=45)).date()
    )
    assert not stalled_initiatives(pmo, now=START + dt.timedelta(days=51)).exists()


def test_stalled_list_is_scoped_and_ignores_closed_and_institutional(unit_a, unit_b, lead_b, pmo):
    a = _initiative_entered(unit_a, START)
    b = _initiative_entered(unit_b, START)
    _initiative_entered(unit_a, START, stage="killed")
    late = START + dt.timedelta(days=2000)
    assert set(stalled_initiatives(pmo, now=late)) == {a, b}
    assert list(stalled_initiatives(lead_b, now=late)) == [b]
    inst = _initiative_entered(unit_a, START, stage="institutional")
    StagePolicy.objects.create(stage="institutional", limit_days=1, inactivity_days=100000)
    assert stalled_initiatives(pmo, now=late).get(pk=inst.pk).past_limit  # a PMO row sets one
    StagePolicy.objects.filter(stage="institutional").delete()
    row = stalled_initiatives(pmo, now=late).get(pk=inst.pk)
    assert not row.past_limit and row.inactive  # no default limit, but inactivity counts


# --- Incidents and risk -------------------------------------------------------------------


def test_severe_incident_in_production_reopens_risk_and_asks_for_a_gate_decision(
    initiative_a, member_a, lead_a
):
    initiative_a.stage = "initial_production"
    initiative_a.save()
    ra = f.RiskAssessmentFactory(initiative=initiative_a, status="current")
    incident = incident_report(
        acting_user=member_a, initiative=initiative_a, title="Biased denials", severity="high"
    )
    ra.refresh_from_db()
    assert ra.status == RiskAssessment.Status.REOPENED
    review = GateReview.objects.get(initiative=initiative_a, status="open")
    assert review.reason == "incident" and review.incident == incident
    assert review.target_stage == "initial_production"
    assert incident.review_due == timezone.localdate() + dt.timedelta(days=14)
    assert any("reopened" in e["event"] for e in incident.timeline)
    # Advance is not an answer to an incident; continue (hold) or roll back is.
    with pytest.raises(ValidationError, match="continue"):
        gate_decide(acting_user=lead_a, review=review, decision="advance", rationale="x")
    gate_decide(acting_user=lead_a, review=review, decision="roll_back", rationale="Unsafe.")
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "proof_of_concept"


def test_minor_incident_or_pilot_incident_does_not_reopen(initiative_a, member_a):
    ra = f.RiskAssessmentFactory(initiative=initiative_a, status="current")
    incident_report(acting_user=member_a, initiative=initiative_a, title="x", severity="critical")
    initiative_a.stage = "initial_production"
    initiative_a.save()
    incident = incident_report(
        acting_user=member_a, initiative=initiative_a, title="y", severity="low"
    )
    ra.refresh_from_db()
    assert ra.status == "current"
    assert not GateReview.objects.exists()
    incident_update(acting_user=member_a, incident=incident, severity="critical", note="Worse.")
    ra.refresh_from_db()
    assert ra.status == "reopened"
    assert GateReview.objects.filter(reason="incident").count() == 1


def test_incident_needs_edit_rights_in_scope(initiative_a, viewer_a, lead_b):
    with pytest.raises(PermissionDenied):
        incident_report(acting_user=viewer_a, initiative=initiative_a, title="x", severity="low")
    with pytest.raises(Initiative.DoesNotExist):
        incident_report(acting_user=lead_b, initiative=initiative_a, title="x", severity="low")


def test_risk_assessment_supersedes_sets_tier_and_requires_justification(initiative_a, lead_a):
    old = f.RiskAssessmentFactory(initiative=initiative_a, status="current")
    with pytest.raises(ValidationError, match="us_justification"):
        risk_assessment_record(
            acting_user=lead_a, initiative=initiative_a, eu_tier="high", us_high_impact=True
        )
    ra = risk_assessment_record(
        acting_user=lead_a,
        initiative=initiative_a,
        eu_tier="high",
        us_high_impact=True,
        us_justification="Decides on credit.",
    )
    old.refresh_from_db()
    initiative_a.refresh_from_db()
    assert old.status == "superseded" and ra.status == "current"
    assert initiative_a.risk_tier == "high"
    assert ra.next_review_due == timezone.localdate() + dt.timedelta(days=180)


# --- Access reviews -------------------------------------------------------------------------


def test_access_review_lists_memberships_and_revocation_removes_guardian_rows(
    unit_a, unit_a_child, lead_a, member_a, viewer_a, pmo
):
    child_member = f.UserFactory(username="child-member")
    from tests.conftest import _member

    _member(child_member, unit_a_child, "member")
    review = access_review_open(
        acting_user=pmo, business_unit=unit_a, reviewer=lead_a, due_on=timezone.localdate()
    )
    items = {i.user: i for i in review.items.all()}
    assert set(items) == {lead_a, member_a, viewer_a, child_member}
    assert unit_a.pk in unit_ids_for(member_a, "change")
    access_review_decide(
        acting_user=lead_a, item=items[member_a], decision="revoke", note="Left the team."
    )
    assert not UnitMembership.objects.filter(user=member_a, business_unit=unit_a).exists()
    assert not BusinessUnitUserObjectPermission.objects.filter(
        user=member_a, content_object=unit_a
    ).exists()
    member_a.refresh_from_db()
    from people.scoping import forget_scope

    forget_scope(member_a)
    assert unit_a.pk not in unit_ids_for(member_a, "view")
    # The evidence stays.
    item = AccessReviewItem.objects.get(pk=items[member_a].pk)
    assert item.decision == "revoke" and item.user == member_a and item.membership is None
    # The reviewer cannot decide their own access; someone else (PMO) does.
    with pytest.raises(SeparationOfDutiesError):
        access_review_decide(acting_user=lead_a, item=items[lead_a], decision="keep")
    with pytest.raises(ValidationError, match="still need"):
        access_review_close(acting_user=lead_a, review=review)
    access_review_decide(acting_user=pmo, item=items[lead_a], decision="keep")
    for u in (viewer_a, child_member):
        access_review_decide(acting_user=lead_a, item=items[u], decision="keep")
    access_review_close(acting_user=lead_a, review=review)


def test_access_review_open_permissions(unit_a, lead_a, lead_b, member_a):
    with pytest.raises(PermissionDenied):
        access_review_open(
            acting_user=lead_b, business_unit=unit_a, reviewer=lead_b, due_on=timezone.localdate()
        )
    with pytest.raises(ValidationError, match="reviewer"):
        access_review_open(
            acting_user=lead_a, business_unit=unit_a, reviewer=member_a, due_on=timezone.localdate()
        )
    review = access_review_open(
        acting_user=lead_a, business_unit=unit_a, reviewer=lead_a, due_on=timezone.localdate()
    )
    assert review.items.count() == 2  # lead_a and member_a


# --- Model versions -------------------------------------------------------------------------


def test_promotion_requires_the_gate_controls_and_another_person(
    standards, initiative_a, lead_a, member_a
):
    initiative_a.risk_tier = "high"
    initiative_a.save()
    mv = f.ModelVersionFactory(
        ai_system=f.AISystemFactory(initiative=initiative_a), created_by=member_a
    )
    with pytest.raises(ValidationError, match="CTL-HUMAN"):
        model_version_promote(acting_user=lead_a, model_version=mv)
    from governance.models import Control

    for control in Control.objects.filter(applies_to_tiers__contains=["high"]):
        f.ControlAttestationFactory(initiative=initiative_a, control=control)
    own = f.ModelVersionFactory(ai_system=mv.ai_system, created_by=lead_a)
    with pytest.raises(SeparationOfDutiesError):
        model_version_promote(acting_user=lead_a, model_version=own)
    mv = model_version_promote(acting_user=lead_a, model_version=mv)
    assert mv.status == "production" and mv.approved_by == lead_a


def test_which_version_was_in_production_on_a_date_comes_from_history(
    standards, initiative_a, lead_a, member_a
):
    initiative_a.risk_tier = "minimal"
    initiative_a.save()
    system = f.AISystemFactory(initiative=initiative_a)
    with time_machine.travel(START, tick=False):
        v1 = f.ModelVersionFactory(ai_system=system, created_by=member_a, version="1.0")
        v2 = f.ModelVersionFactory(ai_system=system, created_by=member_a, version="2.0")
    with time_machine.travel(START + dt.timedelta(days=10), tick=False):
        model_version_promote(acting_user=lead_a, model_version=v1)
    with time_machine.travel(START + dt.timedelta(days=20), tick=False):
        model_version_promote(acting_user=lead_a, model_version=v2)
    assert production_version_on(ai_system=system, when=START + dt.timedelta(days=5)) is None
    assert production_version_on(ai_system=system, when=START + dt.timedelta(days=15)) == v1
    assert production_version_on(ai_system=system, when=START + dt.timedelta(days=25)) == v2
    v1.refresh_from_db()
    assert v1.status == ModelVersion.Status.RETIRED


def test_pmo_asks_for_a_decision_on_a_stalled_initiative_and_someone_else_decides(
    standards, unit_a, pmo, coe, lead_a, member_a
):
    from governance.services import gate_review_open_for_stall

    ini = _initiative_entered(unit_a, START)
    fresh = f.InitiativeFactory(business_unit=unit_a)
    with pytest.raises(ValidationError, match="not stalled"):
        gate_review_open_for_stall(acting_user=pmo, initiative=fresh)
    with pytest.raises(PermissionDenied):
        gate_review_open_for_stall(acting_user=member_a, initiative=ini)
    review = gate_review_open_for_stall(acting_user=pmo, initiative=ini)
    assert review.reason == "stalled" and review.criteria.exists()
    with pytest.raises(SeparationOfDutiesError):
        gate_decide(acting_user=pmo, review=review, decision="kill", rationale="Dead.")
    gate_decide(acting_user=lead_a, review=review, decision="kill", rationale="No sponsor left.")
    ini.refresh_from_db()
    assert ini.stage == "killed"
    assert not stalled_initiatives(pmo).filter(pk=ini.pk).exists()
