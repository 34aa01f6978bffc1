"""The fixed cast every test can use (healthchecks' Alice/Bob/Charlie, for a portfolio).

- ``pmo``, ``finance``, ``coe``, ``auditor``: global roles (groups).
- ``lead_a`` and ``member_a``: lead and member of ``unit_a`` (which has a child unit
  ``unit_a_child``); ``lead_b``: lead of ``unit_b``; ``outsider``: signed in, no role.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from people.models import UnitRole
from people.roles import AUDITOR, COE, FINANCE, PMO
from people.services import sync_membership_permissions
from tests.factories import BusinessUnitFactory, InitiativeFactory, UserFactory


def _member(user, unit, role):
    from people.models import UnitMembership

    UnitMembership.objects.create(user=user, business_unit=unit, role=role)
    sync_membership_permissions(user=user, business_unit=unit)
    return user


def _in_group(username, group_name):
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Factories hash a password per user; PBKDF2 would dominate tests that build 50 rows."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def unit_a(db):
    return BusinessUnitFactory(code="RETAIL", slug="retail", name="Retail Banking")


@pytest.fixture
def unit_a_child(unit_a):
    return BusinessUnitFactory(code="CARDS", slug="cards", name="Cards", parent=unit_a)


@pytest.fixture
def unit_b(db):
    return BusinessUnitFactory(code="WEALTH", slug="wealth", name="Wealth Management")


@pytest.fixture
def pmo(db):
    return _in_group("pmo", PMO)


@pytest.fixture
def finance(db):
    return _in_group("finance", FINANCE)


@pytest.fixture
def coe(db):
    return _in_group("coe", COE)


@pytest.fixture
def auditor(db):
    return _in_group("auditor", AUDITOR)


@pytest.fixture
def lead_a(unit_a):
    return _member(UserFactory(username="lead-a", is_staff=True), unit_a, UnitRole.LEAD)


@pytest.fixture
def member_a(unit_a):
    return _member(UserFactory(username="member-a"), unit_a, UnitRole.MEMBER)


@pytest.fixture
def viewer_a(unit_a):
    return _member(UserFactory(username="viewer-a"), unit_a, UnitRole.VIEWER)


@pytest.fixture
def lead_b(unit_b):
    return _member(UserFactory(username="lead-b", is_staff=True), unit_b, UnitRole.LEAD)


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


@pytest.fixture
def initiative_a(unit_a):
    return InitiativeFactory(code="AI-A-1", name="Claims triage", business_unit=unit_a)


@pytest.fixture
def initiative_a_child(unit_a_child):
    return InitiativeFactory(code="AI-A-2", name="Card fraud scoring", business_unit=unit_a_child)


@pytest.fixture
def initiative_b(unit_b):
    return InitiativeFactory(code="AI-B-1", name="Advisor copilot", business_unit=unit_b)
