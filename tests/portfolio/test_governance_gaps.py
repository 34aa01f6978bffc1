"""Governance gaps on the PMO home: high-risk initiatives (EU tier high, or a current US
federal high-impact assessment) with an applicable control not satisfied."""

import pytest

from governance.models import ControlAttestation
from portfolio.selectors import governance_gaps
from tests.factories import ControlAttestationFactory, ControlFactory, RiskAssessmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployed_high_impact(initiative_a):
    initiative_a.stage = "initial_production"
    initiative_a.save()
    RiskAssessmentFactory(initiative=initiative_a, eu_tier="unassessed", us_high_impact=True)
    return initiative_a


def test_us_high_impact_initiative_missing_a_control_is_a_gap(pmo, deployed_high_impact):
    ControlFactory(code="OMB-MP-1", applies_to_tiers=[], applies_from_stage="initial_production")
    gaps = list(governance_gaps(pmo))
    assert gaps == [deployed_high_impact]
    assert gaps[0].missing_controls == 1


def test_a_not_applicable_attestation_satisfies_the_control(pmo, deployed_high_impact):
    control = ControlFactory(applies_to_tiers=[], applies_from_stage="initial_production")
    ControlAttestationFactory(
        initiative=deployed_high_impact,
        control=control,
        status=ControlAttestation.Status.NOT_APPLICABLE,
        evidence="",
    )
    assert not governance_gaps(pmo).exists()


def test_superseded_high_impact_assessment_does_not_count(pmo, deployed_high_impact):
    deployed_high_impact.risk_assessments.update(status="superseded")
    ControlFactory(applies_to_tiers=[], applies_from_stage="initial_production")
    assert not governance_gaps(pmo).exists()


def test_unit_lead_sees_no_gap_of_another_unit(lead_b, deployed_high_impact):
    ControlFactory(applies_to_tiers=[], applies_from_stage="initial_production")
    assert not governance_gaps(lead_b).exists()
