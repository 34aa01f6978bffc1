"""Run every periodic job once, now, in this process (no worker or beat needed).

``seed_demo`` calls it last, so the demo's inboxes are filled by the real job code; beat
keeps them current afterwards. Safe to run again: nobody is told the same finding twice
in a period.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run every periodic scan (and the digest) once, synchronously."

    def add_arguments(self, parser):
        parser.add_argument("--today", help="Judge as of this day (YYYY-MM-DD); default today")
        parser.add_argument(
            "--only", action="append", default=[], help="Run only this scan (repeatable)"
        )
        parser.add_argument(
            "--no-email", action="store_true", help="Create inbox items without emailing"
        )
        parser.add_argument("--as-user", help="Username recorded as the requesting user")

    def handle(self, *args, **options):
        from portfolio.tasks import SCANS, run_all, scan_run

        today = None
        if options["today"]:
            try:
                today = dt.date.fromisoformat(options["today"])
            except ValueError as exc:
                raise CommandError(f"--today: {exc}") from exc
        user = None
        if options["as_user"]:
            user = get_user_model().objects.filter(username=options["as_user"]).first()
            if user is None:
                raise CommandError(f"--as-user: no user named {options['as_user']!r}")
        send_email = not options["no_email"]
        unknown = [name for name in options["only"] if name not in SCANS]
        if unknown:
            raise CommandError(
                f"--only: unknown scan {', '.join(unknown)}; choose from {', '.join(SCANS)}"
            )
        if options["only"]:
            reports = {
                name: scan_run(name, today=today, requested_by=user, send_email=send_email)
                for name in options["only"]
            }
        else:
            reports = run_all(today=today, requested_by=user, send_email=send_email)
        for name, report in reports.items():
            detail = ", ".join(f"{k}={v}" for k, v in report.items() if k not in ("scan",))
            self.stdout.write(f"{name}: {detail}")
        created = sum(r.get("notifications_created", 0) for r in reports.values())
        self.stdout.write(self.style.SUCCESS(f"{created} new notifications."))
