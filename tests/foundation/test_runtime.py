"""Health check, global roles, membership services and the demo data command."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from people.models import BusinessUnitUserObjectPermission, UnitMembership
from people.roles import GLOBAL_ROLES
from people.services import membership_grant, membership_revoke
from portfolio.models import Initiative
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True


def test_global_role_groups_exist_with_permissions():
    for name in GLOBAL_ROLES:
        assert Group.objects.get(name=name).permissions.exists(), name
    assert Group.objects.get(name="Finance").permissions.filter(codename="approve_budget").exists()
    auditor_codenames = set(
        Group.objects.get(name="Auditor").permissions.values_list("codename", flat=True)
    )
    assert all(c.startswith("view_") for c in auditor_codenames)


def test_membership_grant_creates_guardian_rows_and_revoke_removes_them(pmo, unit_a, initiative_a):
    user = UserFactory(username="new-analyst")
    membership = membership_grant(acting_user=pmo, user=user, business_unit=unit_a, role="viewer")
    assert BusinessUnitUserObjectPermission.objects.filter(user=user).count() == 1
    assert list(Initiative.objects.visible_to(type(user).objects.get(pk=user.pk))) == [initiative_a]
    membership_grant(acting_user=pmo, user=user, business_unit=unit_a, role="lead")
    assert BusinessUnitUserObjectPermission.objects.filter(user=user).count() == 3
    membership_revoke(acting_user=pmo, membership=UnitMembership.objects.get(pk=membership.pk))
    assert not BusinessUnitUserObjectPermission.objects.filter(user=user).exists()


def test_unit_lead_cannot_grant_memberships_in_another_unit(lead_a, unit_b):
    with pytest.raises(PermissionDenied):
        membership_grant(
            acting_user=lead_a, user=UserFactory(), business_unit=unit_b, role="member"
        )


def test_seed_demo_builds_a_scoped_organisation(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    assert Initiative.objects.count() >= 60
    stages = set(Initiative.objects.values_list("stage", flat=True))
    assert {
        "proof_of_concept",
        "initial_production",
        "scaled_deployment",
        "institutional",
        "killed",
        "retired",
    } <= stages
    lead = get_user_model().objects.get(username="lead-wealth")
    units = set(Initiative.objects.visible_to(lead).values_list("business_unit__slug", flat=True))
    assert units == {"wealth"}
    # Re-running with --if-empty leaves the portfolio alone.
    count = Initiative.objects.count()
    call_command("seed_demo", if_empty=True, verbosity=0)
    assert Initiative.objects.count() == count


def test_seed_demo_refuses_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("seed_demo", verbosity=0)
