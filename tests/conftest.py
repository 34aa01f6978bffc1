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


# --- Two database roles (portfolio/db_roles.py) ----------------------------------------
# The suite connects as the app role, like the app: the owner only creates the test
# database, migrates (which grants the app role) and drops it. With DATABASE_URL alone
# (one role that may create roles, e.g. a local superuser), that role is the owner and
# the suite makes itself an app role.
TEST_APP_ROLE = "portfolio_test_app"


def _provision_app_role() -> None:
    from django.conf import settings
    from django.db import connection

    if settings.DATABASE_OWNER:
        return
    current = connection.settings_dict
    owner = {key: current.get(key) for key in ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")}
    try:
        with connection._nodb_cursor() as cursor:
            cursor.execute(
                f"""DO $$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TEST_APP_ROLE}') THEN
                        CREATE ROLE {TEST_APP_ROLE} LOGIN PASSWORD '{TEST_APP_ROLE}';
                    END IF;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END $$"""
            )
    except Exception as exc:
        raise pytest.UsageError(
            "The suite runs as a role that does not own the tables. Set DATABASE_URL to "
            "that role and DATABASE_OWNER_URL to the owner (see README, 'Two database "
            f"roles'), or give DATABASE_URL a role that may create roles. ({exc})"
        ) from exc
    connection.close()
    settings.DATABASE_OWNER = owner
    current.update(USER=TEST_APP_ROLE, PASSWORD=TEST_APP_ROLE)


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_use_migrations,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
):
    """pytest-django's set-up, with the database created, migrated and dropped as the owner."""
    from django.test.utils import setup_databases, teardown_databases
    from pytest_django.fixtures import _disable_migrations, _get_databases_for_setup

    from portfolio.db_roles import as_owner

    if not django_db_use_migrations:
        _disable_migrations()
    keepdb = django_db_keepdb and not django_db_createdb
    aliases, serialized_aliases = _get_databases_for_setup(request.session.items)
    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        _provision_app_role()
        with as_owner():
            db_cfg = setup_databases(
                verbosity=verbosity,
                interactive=False,
                aliases=aliases,
                serialized_aliases=serialized_aliases,
                keepdb=keepdb,
            )
    yield
    if not keepdb:
        with django_db_blocker.unblock(), as_owner():
            _end_leftover_sessions()
            teardown_databases(db_cfg, verbosity=verbosity)


def _end_leftover_sessions() -> None:
    """A session a test left open (a daemon thread that outlived its join timeout) would
    make DROP DATABASE fail as "being accessed by other users": end it, and say so."""
    import warnings

    from django.db import connection, connections

    connections.close_all()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, usename, state, left(query, 200) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        leftovers = cursor.fetchall()
        for pid, user, state, query in leftovers:
            warnings.warn(
                f"a test left a database session open: {user} {state} {query!r}", stacklevel=1
            )
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    connection.close()


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
    return _member(UserFactory(username="lead-a"), unit_a, UnitRole.LEAD)


@pytest.fixture
def member_a(unit_a):
    return _member(UserFactory(username="member-a"), unit_a, UnitRole.MEMBER)


@pytest.fixture
def viewer_a(unit_a):
    return _member(UserFactory(username="viewer-a"), unit_a, UnitRole.VIEWER)


@pytest.fixture
def lead_b(unit_b):
    return _member(UserFactory(username="lead-b"), unit_b, UnitRole.LEAD)


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
