"""Governance fixtures: the default standards, and records that satisfy a gate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests import factories as f


@pytest.fixture
def standards(db):
    call_command("seed_standards", verbosity=0)


@pytest.fixture
def owner_a(unit_a):
    """A member of unit A who is the requirements owner of initiative_a."""
    from people.models import UnitRole
    from tests.conftest import _member

    return _member(f.UserFactory(username="owner-a"), unit_a, UnitRole.MEMBER)


def satisfy_poc_gate(initiative, *, owner, operator=None):
    """Records that meet every automatic criterion of the proof-of-concept gate for a
    limited-risk initiative (manual ones need evidence on the review)."""
    from governance.models import Control, ControlAttestation
    from portfolio.models import Assignment

    today = timezone.localdate()
    initiative.risk_tier = "limited"
    initiative.save(update_fields=["risk_tier"])
    initiative.objectives.add(f.ObjectiveFactory())
    f.KPIFactory(initiative=initiative, kind="business", baseline_value=Decimal("10"))
    f.AssignmentFactory(initiative=initiative, role=Assignment.Role.REQUIREMENTS_OWNER, user=owner)
    f.AssignmentFactory(
        initiative=initiative, role=Assignment.Role.OPERATOR, user=operator or f.UserFactory()
    )
    f.BudgetFactory(
        initiative=initiative, kind="operational", status="approved", approved_by=f.UserFactory()
    )
    f.RiskAssessmentFactory(
        initiative=initiative,
        eu_tier="limited",
        assessed_on=today - dt.timedelta(days=5),
        next_review_due=today + dt.timedelta(days=300),
    )
    for control in Control.objects.filter(applies_to_tiers__contains=["limited"]):
        ControlAttestationFactory = f.ControlAttestationFactory
        ControlAttestationFactory(
            initiative=initiative,
            control=control,
            expires_on=today + dt.timedelta(days=300),
        )
    assert ControlAttestation.objects.filter(initiative=initiative).exists()
