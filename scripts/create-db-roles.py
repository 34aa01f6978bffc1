"""Create (or update) the app's two PostgreSQL roles and its database, idempotently.

    python scripts/create-db-roles.py ADMIN_URL DATABASE OWNER_ROLE OWNER_PASSWORD APP_ROLE APP_PASSWORD

ADMIN_URL is a role that may create roles and databases (e.g. the server's superuser).
The owner gets LOGIN and CREATEDB (the test suite creates its own database) and owns
DATABASE; the app role gets LOGIN only. Table privileges are granted by ``manage.py
migrate``, run as the owner (portfolio/db_roles.py). Re-running resets the passwords.
"""

from __future__ import annotations

import sys

import psycopg
from psycopg import sql


def main(admin_url, database, owner, owner_password, app, app_password) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role, password, attributes in (
            (owner, owner_password, "LOGIN CREATEDB NOSUPERUSER NOCREATEROLE"),
            (app, app_password, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"),
        ):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(f"{verb} ROLE {{}} {attributes} PASSWORD {{}}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(owner)
                )
            )
        # The owner may end the app role's sessions (the test suite's teardown ends the
        # ones a test left open before it drops its database).
        conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(owner)))
        # The app role must not be able to act as the owner.
        conn.execute(
            sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(owner), sql.Identifier(app))
        )


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    main(*sys.argv[1:])
