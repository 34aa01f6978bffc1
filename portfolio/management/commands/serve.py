"""Serve the app with a Celery worker and beat; Ctrl-C stops all three.

``manage.py serve`` (``make run``) serves like production: gunicorn with WhiteNoise,
``DEBUG`` off, the app's own error pages. Its secret key is generated once into
``VAR_DIR/secret_key`` unless ``SECRET_KEY`` is set. The cookies are not marked secure
unless told, because this local server speaks plain HTTP on 127.0.0.1; behind TLS, set
``SESSION_COOKIE_SECURE`` and ``CSRF_COOKIE_SECURE`` (see the README).
``manage.py serve --dev`` (``make dev``) runs Django's auto-reloading development server
with ``DEBUG`` on instead. Migrations run before (``make run``), as the owner; the three
processes get no owner credentials and connect as the app role only."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


def _secret_key_file(var_dir: Path) -> Path:
    path = Path(var_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path


#: The owner role's credentials: ``migrate`` uses them before the children start; the
#: web server, the worker and beat run as the app role only (see ``portfolio.db_roles``).
OWNER_VARIABLES = ("DATABASE_OWNER_URL", "DATABASE_OWNER_URL_FILE")


def child_environment() -> dict[str, str]:
    """This process's environment without the owner's credentials. With the embedded
    server (no ``DATABASE_URL``), a child would derive the owner's URL from the server
    itself: it is given the app role's URL instead."""
    env = {k: v for k, v in os.environ.items() if k not in OWNER_VARIABLES}
    if settings.EMBEDDED_DATABASE:
        env["DATABASE_URL"] = settings.DATABASE_URL
    return env


def plan(
    *, addr: str, concurrency: int, dev: bool, var_dir: Path
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The three processes to start and the environment they share (the app role's:
    :func:`child_environment`)."""
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "portfolio"]
    env = child_environment()
    if dev:
        env["DEBUG"] = "true"
        web = [python, "manage.py", "runserver", addr]
    else:
        env["DEBUG"] = "false"
        if not env.get("SECRET_KEY") and not env.get("SECRET_KEY_FILE"):
            env["SECRET_KEY_FILE"] = str(_secret_key_file(var_dir))
        env.setdefault("SESSION_COOKIE_SECURE", "false")
        env.setdefault("CSRF_COOKIE_SECURE", "false")
        workers = env.get("WEB_CONCURRENCY", "2")
        web = [
            python, "-m", "gunicorn", "portfolio.wsgi",
            "--bind", addr,
            "--workers", workers,
            "--threads", env.get("GUNICORN_THREADS", "4"),
            "--timeout", "120",
            "--access-logfile", "-",
        ]  # fmt: skip
    commands = {
        "web": web,
        "worker": celery + ["worker", "-l", "info", f"--concurrency={concurrency}"],
        "beat": celery + ["beat", "-l", "info"],
    }
    return commands, env


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat together."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument(
            "--dev", action="store_true", help="runserver with DEBUG on (auto-reload)"
        )

    def handle(self, *args, addr: str, concurrency: int, dev: bool, **options):
        commands, env = plan(
            addr=addr, concurrency=concurrency, dev=dev, var_dir=Path(settings.VAR_DIR)
        )
        procs: dict[str, subprocess.Popen] = {}
        for name, cmd in commands.items():
            procs[name] = subprocess.Popen(cmd, env=env)
            self.stdout.write(f"started {name} (pid {procs[name].pid})")
        mode = "development (DEBUG on)" if dev else "production mode (DEBUG off, gunicorn)"
        self.stdout.write(
            self.style.SUCCESS(f"Serving on http://{addr}/ in {mode} - press Ctrl-C to stop.")
        )

        def stop(*_):
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(p.poll() is None for p in procs.values()):
                time.sleep(0.5)
            failed = [n for n, p in procs.items() if p.poll() not in (None, 0)]
            if failed:
                self.stderr.write(f"stopped because {', '.join(failed)} exited")
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            deadline = time.monotonic() + 15
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
        if settings.EMBEDDED_DATABASE:
            from django.db import connections

            from portfolio.embedded_db import stop_embedded_server

            connections.close_all()
            stop_embedded_server(settings.VAR_DIR)
        self.stdout.write("stopped.")
