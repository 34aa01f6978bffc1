"""The scoping rule itself: unit grants, child units, global roles, caching."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from people.models import BusinessUnit
from people.scoping import unit_ids_for
from portfolio.models import Initiative

pytestmark = pytest.mark.django_db


def test_unit_lead_sees_own_unit_and_its_children_not_other_units(
    lead_a, initiative_a, initiative_a_child, initiative_b
):
    visible = set(Initiative.objects.visible_to(lead_a))
    assert visible == {initiative_a, initiative_a_child}


def test_unit_lead_of_other_unit_sees_none_of_unit_a(lead_b, initiative_a, initiative_b):
    assert list(Initiative.objects.visible_to(lead_b)) == [initiative_b]


def test_outsider_sees_nothing(outsider, initiative_a, initiative_b):
    assert not Initiative.objects.visible_to(outsider).exists()
    assert not BusinessUnit.objects.visible_to(outsider).exists()


def test_anonymous_sees_nothing(initiative_a):
    from django.contrib.auth.models import AnonymousUser

    assert not Initiative.objects.visible_to(AnonymousUser()).exists()


def test_viewer_sees_but_cannot_edit(viewer_a, initiative_a):
    assert list(Initiative.objects.visible_to(viewer_a)) == [initiative_a]
    assert not Initiative.objects.editable_by(viewer_a).exists()


def test_member_can_edit_own_unit_only(member_a, initiative_a, initiative_b):
    assert list(Initiative.objects.editable_by(member_a)) == [initiative_a]


@pytest.mark.parametrize("role", ["pmo", "finance", "coe", "auditor"])
def test_global_roles_see_every_unit(request, role, initiative_a, initiative_b):
    user = request.getfixturevalue(role)
    assert set(Initiative.objects.visible_to(user)) == {initiative_a, initiative_b}


def test_auditor_reads_everything_and_changes_nothing(auditor, initiative_a, initiative_b):
    assert Initiative.objects.visible_to(auditor).count() == 2
    assert not Initiative.objects.editable_by(auditor).exists()


def test_unit_ids_are_resolved_once_per_user(lead_a, initiative_a):
    unit_ids_for(lead_a, "view")
    with CaptureQueriesContext(connection) as ctx:
        unit_ids_for(lead_a, "view")
        list(Initiative.objects.visible_to(lead_a))
    # model-level permission check (cached by Django after first use) + the rows
    assert len(ctx.captured_queries) <= 3


def test_lead_of_child_unit_does_not_see_parent(
    unit_a, unit_a_child, initiative_a, initiative_a_child
):
    from people.models import UnitRole
    from tests.conftest import _member
    from tests.factories import UserFactory

    child_lead = _member(UserFactory(username="child-lead"), unit_a_child, UnitRole.LEAD)
    assert list(Initiative.objects.visible_to(child_lead)) == [initiative_a_child]
