"""``manage.py import_focus FILE --user U [--focus-version 1.3]``"""

from __future__ import annotations

import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from finance.focus.services import focus_import


class Command(BaseCommand):
    help = (
        "Import a FOCUS cost-and-usage file (CSV, gzip CSV or Parquet): its billing periods "
        "replace what the app holds for them; prints what changed. Not capped: the upload "
        "page and the API refuse files over UPLOAD_MAX_MB; import bigger ones here."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--user", required=True, help="The finance user the trail names")
        parser.add_argument(
            "--focus-version", default="", help="1.0 to 1.3 (default: read from the columns)"
        )

    def handle(self, *args, **options):
        try:
            user = get_user_model().objects.get(username=options["user"], is_active=True)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No active user {options['user']!r}.") from exc
        try:
            result = focus_import(
                acting_user=user, file=options["file"], focus_version=options["focus_version"]
            )
        except FileNotFoundError as exc:
            raise CommandError(f"No such file: {options['file']}") from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        record, out = result.record, self.stdout
        if not result.ok:
            out.write(
                f"FOCUS import {record.pk} ({record.filename}): refused, nothing was written."
            )
            for error in record.errors:
                if error["row"] is None and not error["column"]:
                    out.write(f"  File: {error['reason']}")
                elif error["row"] is None:
                    out.write(f"  {error['column']}: {error['reason']}")
                else:
                    out.write(f"  Row {error['row']}, {error['column']}: {error['reason']}")
            rejected = record.report.get("rejected", 0)
            if rejected > len(record.errors):
                out.write(
                    f"  ... {rejected} rows rejected; the first {len(record.errors)} errors are listed."
                )
            sys.exit(1)
        report = record.report
        rows = report["rows"]
        out.write(
            f"FOCUS {record.focus_version} import {record.pk} ({record.filename}): "
            f"{record.rows_total} rows: {rows['added']} added, {rows['removed']} removed, "
            f"{rows['changed']} changed, {rows['unchanged']} unchanged."
        )
        for period in report["periods"]:
            out.write(
                f"  Billing account {period['billing_account']}, period {period['billing_period_start']}"
            )
        for currency, money in report["money"].items():
            out.write(
                f"  {currency} ({report['cost_basis']} cost): added {money['added']}, "
                f"removed {money['removed']}, changed {money['changed']}"
            )
        postings = report.get("postings", {})
        out.write(
            f"  Allocated {report.get('allocated_lines', 0)} lines; ledger postings "
            f"{postings.get('created', 0)} created, {postings.get('updated', 0)} updated, "
            f"{postings.get('deleted', 0)} removed."
        )
