"""Two database roles: the app's own connection cannot rewrite, erase or skip the trail.

The suite connects as the app role (tests/conftest.py), so every test here runs with the
privileges the web and worker processes have. On a single role that owns the tables (the
old set-up) each of them fails.
"""

from __future__ import annotations

import uuid

import pgtrigger
import pytest
from django.db import DatabaseError, connection, transaction
from pghistory.models import Context

from people.audit import acting_as
from portfolio.db_roles import as_owner, audit_tables
from portfolio.models import Initiative

AUDIT_TABLES = audit_tables()
INITIATIVE_EVENTS = Initiative.pgh_event_models["update"]._meta.db_table


def _refused(sql: str, params=None, match: str = "permission denied|must be owner"):
    with (
        pytest.raises(DatabaseError, match=match),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def _one_event(pmo, initiative):
    with acting_as(pmo):
        initiative.name = f"{initiative.name} (renamed)"
        initiative.save()


def test_every_audit_table_is_enumerated():
    from django.apps import apps
    from pghistory.models import Event

    tracked = [m for m in apps.get_models() if issubclass(m, Event) and not m._meta.proxy]
    assert Context._meta.db_table in AUDIT_TABLES
    assert len(AUDIT_TABLES) == len(tracked) + 1
    assert len(tracked) >= 16  # every governed model (test_audit_trail) has its event table


@pytest.mark.django_db
def test_the_suite_connects_as_a_role_that_owns_no_audit_table_and_is_not_superuser():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = ANY(%s) AND tableowner = current_user",
            [AUDIT_TABLES],
        )
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_app_role_cannot_update_delete_or_truncate_an_audit_table(table, pmo, initiative_a):
    _one_event(pmo, initiative_a)
    column = "created_at" if table == Context._meta.db_table else "pgh_created_at"
    _refused(f'UPDATE "{table}" SET {column} = {column}')
    _refused(f'DELETE FROM "{table}"')
    _refused(f'TRUNCATE "{table}"')
    _refused(f'TRUNCATE "{table}" CASCADE')


@pytest.mark.django_db
def test_app_role_cannot_write_a_context_row_itself(pmo, initiative_a):
    _one_event(pmo, initiative_a)
    _refused(
        "INSERT INTO pghistory_context (id, metadata, created_at, updated_at) "
        "VALUES (%s, '{}', now(), now())",
        [str(uuid.uuid4())],
    )
    _refused("UPDATE pghistory_context SET metadata = '{\"user\": null}'")
    _refused("DELETE FROM pghistory_context")


@pytest.mark.django_db
def test_app_role_cannot_alter_drop_or_disable_triggers_on_an_audit_table():
    _refused(f'ALTER TABLE "{INITIATIVE_EVENTS}" DISABLE TRIGGER ALL')
    _refused(f'ALTER TABLE "{INITIATIVE_EVENTS}" DISABLE TRIGGER USER')
    _refused(f'ALTER TABLE "{INITIATIVE_EVENTS}" ADD COLUMN forged text')
    _refused('ALTER TABLE "pghistory_context" DISABLE TRIGGER ALL')
    _refused(f'DROP TABLE "{INITIATIVE_EVENTS}"')
    # The tracked table's own triggers are the recorders: the app cannot switch them off.
    _refused(f'ALTER TABLE "{Initiative._meta.db_table}" DISABLE TRIGGER ALL')


@pytest.mark.django_db
def test_app_role_cannot_set_session_replication_role():
    _refused("SET session_replication_role = replica", match="permission denied")
    _refused("SET LOCAL session_replication_role = replica", match="permission denied")


@pytest.mark.django_db
def test_app_role_cannot_skip_the_audit_triggers_with_pgtrigger_ignore(pmo, initiative_a):
    events = Initiative.pgh_event_models["update"].objects.filter(pgh_obj=initiative_a)
    with pgtrigger.ignore("portfolio.Initiative:update_update"), acting_as(pmo):
        Initiative.objects.filter(pk=initiative_a.pk).update(name="Unrecorded?")
    assert events.filter(name="Unrecorded?").count() == 1


@pytest.mark.django_db
def test_a_temporary_table_cannot_swallow_the_events(pmo, initiative_a):
    with connection.cursor() as cursor:
        cursor.execute(
            f'CREATE TEMP TABLE "{INITIATIVE_EVENTS}" (LIKE public."{INITIATIVE_EVENTS}")'
        )
    with acting_as(pmo):
        Initiative.objects.filter(pk=initiative_a.pk).update(name="Swallowed?")
    events = Initiative.pgh_event_models["update"].objects.filter(pgh_obj=initiative_a)
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT count(*) FROM public."{INITIATIVE_EVENTS}" WHERE name = %s', ["Swallowed?"]
        )
        assert cursor.fetchone()[0] == 1
        cursor.execute(f'DROP TABLE pg_temp."{INITIATIVE_EVENTS}"')
    assert events.filter(name="Swallowed?").exists()


@pytest.mark.django_db(transaction=True)
def test_a_later_transaction_cannot_re_point_an_events_context(pmo, finance, initiative_a):
    """pghistory writes contexts with an upsert; the upsert cannot rewrite a committed one."""
    _one_event(pmo, initiative_a)  # autocommit: its own transaction
    events = Initiative.pgh_event_models["update"].objects.filter(pgh_obj=initiative_a)
    event = events.filter(pgh_context__metadata__user=pmo.pk).latest("pgh_id")
    context_id = event.pgh_context_id
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pghistory.context_id', %s, true), "
            "set_config('pghistory.context_metadata', %s, true)",
            [str(context_id), f'{{"user": {finance.pk}}}'],
        )
        cursor.execute("SELECT _pgh_attach_context()")
    assert Context.objects.get(pk=context_id).metadata["user"] == pmo.pk


@pytest.mark.django_db(transaction=True)
def test_tables_a_later_migration_creates_are_granted_to_the_app_role():
    with as_owner() as app_role, connection.cursor() as cursor:
        assert app_role  # a separate owner is configured
        cursor.execute("CREATE TABLE trail_later_migration (id bigint PRIMARY KEY)")
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO trail_later_migration VALUES (1)")
            cursor.execute("UPDATE trail_later_migration SET id = 2")
            cursor.execute("SELECT count(*) FROM trail_later_migration")
            assert cursor.fetchone()[0] == 1
    finally:
        with as_owner(), connection.cursor() as cursor:
            cursor.execute("DROP TABLE trail_later_migration")
