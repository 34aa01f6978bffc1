"""``manage.py import_spend FILE --source NAME [--dry-run] [--keep-valid-rows] [--user U]``"""

from __future__ import annotations

import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from finance.services import spend_import


class Command(BaseCommand):
    help = "Import spend postings (CSV or XLSX) from a finance system and print the report."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--source", required=True, help="The finance system, e.g. sap")
        parser.add_argument("--dry-run", action="store_true", help="Check and count only")
        parser.add_argument(
            "--keep-valid-rows",
            action="store_true",
            help="Write the valid rows even if some are rejected (default: all or nothing)",
        )
        parser.add_argument(
            "--user",
            help="Who the audit trail names (default: the first active superuser)",
        )

    def handle(self, *args, **options):
        User = get_user_model()
        if options["user"]:
            try:
                user = User.objects.get(username=options["user"], is_active=True)
            except User.DoesNotExist as exc:
                raise CommandError(f"No active user {options['user']!r}.") from exc
        else:
            user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
            if user is None:
                raise CommandError("Give --user: there is no active superuser to act as.")
        try:
            result = spend_import(
                acting_user=user,
                file=options["file"],
                source=options["source"],
                dry_run=options["dry_run"],
                keep_valid_rows=options["keep_valid_rows"],
            )
        except FileNotFoundError as exc:
            raise CommandError(f"No such file: {options['file']}") from exc
        except (PermissionDenied, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        batch = result.batch
        out = self.stdout
        out.write(
            f"Import batch {batch.pk} from {batch.source!r} ({batch.filename}): "
            f"{batch.rows_total} rows; created {batch.created_count}, "
            f"updated {batch.updated_count}, unchanged {batch.unchanged_count}, "
            f"rejected {batch.rejected_count}."
        )
        for error in batch.errors:
            if error["row"] is None:
                out.write(f"  File: {error['reason']}")
            else:
                out.write(f"  Row {error['row']}, {error['column']}: {error['reason']}")
        if batch.rejected_count > len(batch.errors):
            out.write(f"  ... and more; the first {len(batch.errors)} errors are listed.")
        if options["dry_run"]:
            out.write("Dry run: nothing was written.")
        elif batch.status == batch.Status.FAILED:
            out.write(
                "Nothing was written (all or nothing; use --keep-valid-rows to write the valid rows)."
            )
            sys.exit(1)
        else:
            out.write("Done.")
