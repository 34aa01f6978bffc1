"""Serve the app with a Celery worker and beat; Ctrl-C stops all three."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat together (development)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, addr: str, concurrency: int, **options):
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "portfolio"]
        commands = {
            "web": [python, "manage.py", "runserver", addr],
            "worker": celery + ["worker", "-l", "info", f"--concurrency={concurrency}"],
            "beat": celery + ["beat", "-l", "info"],
        }
        procs: dict[str, subprocess.Popen] = {}
        for name, cmd in commands.items():
            procs[name] = subprocess.Popen(cmd, env=os.environ.copy())
            self.stdout.write(f"started {name} (pid {procs[name].pid})")
        self.stdout.write(self.style.SUCCESS(f"Serving on http://{addr}/ - press Ctrl-C to stop."))

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
