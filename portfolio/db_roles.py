"""Two database roles: the owner migrates, the app reads and writes data.

The app connects with ``DATABASE_URL`` as a role that owns nothing. Migrations (and
``flush``, and the test suite's database set-up) run as the owner given by
``DATABASE_OWNER_URL``. After every ``migrate`` the owner grants the app role plain data
access to every table, then takes back what would let the app rewrite its own trail:

- UPDATE, DELETE and TRUNCATE on every audit table (pghistory's event tables and
  ``pghistory_context``, the acting user and URL of each event). Not owning the tables,
  the app cannot ALTER them or DISABLE TRIGGER either, and not being a superuser it
  cannot set ``session_replication_role``.
- pghistory writes a context row with an upsert; ``_pgh_attach_context()`` becomes
  SECURITY DEFINER (it runs as the owner, so the app needs no UPDATE on the context
  table, not even INSERT), and its upsert may only change a context written by the
  current transaction (``created_at = NOW()``): a later one cannot re-point who did what.
- ``pgtrigger.ignore`` (a session setting anyone may set) is not honoured for the audit
  triggers unless the role is the owner, so the app cannot write without being recorded.
- Trigger functions run with ``search_path = public, pg_temp``: a temporary table named
  like an event table cannot swallow the events.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

# What switches to the owner (settings.DATABASE_OWNER); the database name stays the
# connection's own (the test suite renames it to the test database).
_CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")

# Triggers pghistory installs: its trackers and the append-only guards of its event tables.
AUDIT_TRIGGER_PATTERN = r"^pgtrigger_(insert_insert|update_update|delete_delete|append_only)_"


@contextlib.contextmanager
def as_owner(alias: str = DEFAULT_DB_ALIAS) -> Iterator[str | None]:
    """Run the block connected as the owner; yields the app role's name.

    Re-entrant. Yields ``None`` (and changes nothing) when no separate owner is
    configured: then the one role is the owner and there is no app role to grant.
    """
    owner = getattr(settings, "DATABASE_OWNER", None)
    connection = connections[alias]
    current = connection.settings_dict
    if alias != DEFAULT_DB_ALIAS or not owner or current.get("USER") == owner["USER"]:
        yield current.get("APP_ROLE")
        return
    if connection.in_atomic_block:
        raise RuntimeError("as_owner() cannot switch roles inside a transaction")
    saved = {key: current.get(key) for key in _CREDENTIALS}
    connection.close()
    current.update({key: owner.get(key, saved[key]) for key in _CREDENTIALS})
    current["APP_ROLE"] = saved["USER"]
    try:
        yield saved["USER"]
    finally:
        connection.close()
        current.pop("APP_ROLE", None)
        current.update(saved)


def audit_tables() -> list[str]:
    """Every audit table: pghistory's event tables and its context table."""
    from django.apps import apps
    from pghistory.models import Context, Event

    tables = {Context._meta.db_table}
    for model in apps.get_models():
        if issubclass(model, Event) and not model._meta.proxy and model._meta.managed:
            tables.add(model._meta.db_table)
    return sorted(tables)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_app_role(alias: str, app_role: str) -> None:
    """As the owner: the app's privileges on every table, none to rewrite the trail."""
    from pghistory.models import Context

    app = _quote(app_role)
    context_table = Context._meta.db_table
    audit = ", ".join(_quote(t) for t in audit_tables())
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
        owner_literal = "'" + owner.replace("'", "''") + "'"
        cursor.execute(
            f"""
            REVOKE CREATE ON SCHEMA public FROM PUBLIC;
            GRANT USAGE ON SCHEMA public TO {app};
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app};
            GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {app};
            ALTER DEFAULT PRIVILEGES IN SCHEMA public
                GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app};
            ALTER DEFAULT PRIVILEGES IN SCHEMA public
                GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {app};
            REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {audit} FROM PUBLIC, {app};
            -- Contexts are written by _pgh_attach_context() only.
            REVOKE INSERT ON {_quote(context_table)} FROM PUBLIC, {app};

            CREATE OR REPLACE FUNCTION _pgh_attach_context()
            RETURNS {_quote(context_table)}.id%TYPE
            SECURITY DEFINER SET search_path = public, pg_temp
            AS $$
                DECLARE
                    _pgh_context_id UUID;
                    _pgh_context_metadata JSONB;
                BEGIN
                    BEGIN
                        SELECT INTO _pgh_context_id CURRENT_SETTING('pghistory.context_id');
                        SELECT INTO _pgh_context_metadata
                            CURRENT_SETTING('pghistory.context_metadata');
                        EXCEPTION WHEN OTHERS THEN
                    END;
                    IF _pgh_context_id IS NOT NULL AND _pgh_context_metadata IS NOT NULL THEN
                        -- Only a context this very transaction wrote may change (pghistory
                        -- merges nested contexts' metadata into it); any other is kept.
                        INSERT INTO {_quote(context_table)} (id, metadata, created_at, updated_at)
                            VALUES (_pgh_context_id, _pgh_context_metadata, NOW(), NOW())
                            ON CONFLICT (id) DO UPDATE
                                SET metadata = EXCLUDED.metadata,
                                    updated_at = EXCLUDED.updated_at
                                WHERE {_quote(context_table)}.metadata != EXCLUDED.metadata
                                  AND {_quote(context_table)}.created_at = NOW();
                        RETURN _pgh_context_id;
                    ELSE
                        RETURN NULL;
                    END IF;
                END;
            $$ LANGUAGE plpgsql;
            REVOKE ALL ON FUNCTION _pgh_attach_context() FROM PUBLIC;
            GRANT EXECUTE ON FUNCTION _pgh_attach_context() TO {app};
            """
        )
        cursor.execute("SELECT to_regproc('public._pgtrigger_should_ignore') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute(
                f"""
                CREATE OR REPLACE FUNCTION public._pgtrigger_should_ignore(trigger_name NAME)
                RETURNS BOOLEAN SET search_path = public, pg_temp AS $$
                    DECLARE
                        _pgtrigger_ignore TEXT[];
                    BEGIN
                        BEGIN
                            SELECT INTO _pgtrigger_ignore CURRENT_SETTING('pgtrigger.ignore');
                            EXCEPTION WHEN OTHERS THEN
                        END;
                        IF _pgtrigger_ignore IS NULL THEN
                            RETURN FALSE;
                        END IF;
                        -- The audit triggers can be skipped by the owner only.
                        IF trigger_name ~ '{AUDIT_TRIGGER_PATTERN}'
                           AND NOT pg_has_role(current_user, {owner_literal}, 'USAGE') THEN
                            RETURN FALSE;
                        END IF;
                        RETURN trigger_name = ANY(_pgtrigger_ignore);
                    END;
                $$ LANGUAGE plpgsql;
                """
            )
        # Trigger functions resolve table names through the search path, where a session's
        # temporary tables come first unless pg_temp is named last.
        cursor.execute(
            """
            DO $$
            DECLARE f regprocedure;
            BEGIN
                FOR f IN
                    SELECT DISTINCT t.tgfoid::regprocedure
                    FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                    WHERE NOT t.tgisinternal AND p.proname LIKE 'pgtrigger\\_%'
                LOOP
                    EXECUTE format('ALTER FUNCTION %s SET search_path = public, pg_temp', f);
                END LOOP;
            END $$;
            """
        )
