"""manage.py import_inventory FILE --format omb-2025 [--mapping FILE] [--dry-run] ..."""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import BUILTIN_FORMATS, MappingError, load_mapping
from governance.inventory.reader import InventoryFileError


def print_report(stdout, report: dict) -> None:
    for warning in report.get("warnings", []):
        stdout.write(f"WARNING: {warning}")
    keys = ("rows_read", "created", "updated", "unchanged", "rejected", "skipped")
    stdout.write(", ".join(f"{k.replace('_', ' ')}: {report.get(k, 0)}" for k in keys))
    if report.get("refused"):
        stdout.write(report["message"])
        return
    stdout.write(
        "matched: " + (", ".join(f"{how} {n}" for how, n in report["matched"].items()) or "no rows")
    )
    stdout.write(
        f"units created: {report['units_created']}, stage transitions: "
        f"{report['stage_transitions']}, risk assessments: "
        f"{report['risk_assessments_created']} new / {report['risk_assessments_updated']} changed, "
        f"attestations: {report['attestations_created']} new / "
        f"{report['attestations_updated']} changed"
    )
    if report.get("created"):
        stdout.write(
            f"stage dates: {report['stage_dates_from_file']} from the file, "
            f"{report['stage_dates_at_import']} not in the file (dated by the import)"
        )
    for name, c in report.get("fields", {}).items():
        stdout.write(
            f"  {name}: set {c['set']}, changed {c['changed']}, kept {c['kept']}, "
            f"would have cleared {c['would_clear']}, cleared {c['cleared']}"
        )
    for r in report["rejections"]:
        stdout.write(f"  row {r['row']}: {r['reason']}")
    for r in report.get("skipped_rows", []):
        stdout.write(f"  row {r['row']} skipped: {r['reason']}")
    for column, values in report["unmapped"].items():
        total = sum(values.values())
        stdout.write(f"  unmapped in {column}: {total} cells, {len(values)} distinct values")
    stdout.write(report["message"])


class Command(BaseCommand):
    help = "Import an AI use-case inventory (CSV or XLSX) into the portfolio."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", default="omb-2025", choices=sorted(BUILTIN_FORMATS))
        parser.add_argument("--mapping", type=Path, help="A TOML or JSON mapping file")
        parser.add_argument("--dry-run", action="store_true", help="Report, write nothing")
        parser.add_argument(
            "--keep-valid-rows",
            action="store_true",
            help="Write the valid rows even when some are rejected (default: all or nothing)",
        )
        parser.add_argument(
            "--allow-missing-columns",
            action="store_true",
            help="Import even when most of the mapped columns are not in the file",
        )
        parser.add_argument("--user", help="Username the audit trail attributes the import to")
        parser.add_argument("--json", action="store_true", help="Print the full report as JSON")

    def handle(self, *args, file: Path, **opts):
        try:
            if opts["mapping"]:
                mapping = load_mapping(
                    text=opts["mapping"].read_bytes(), filename=opts["mapping"].name
                )
            else:
                mapping = load_mapping(format_name=opts["format"])
        except (MappingError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        user = None
        if opts["user"]:
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"No user named {opts['user']!r}.")
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        try:
            report = inventory_import(
                acting_user=user,
                data=data,
                filename=file.name,
                mapping=mapping,
                dry_run=opts["dry_run"],
                keep_valid_rows=opts["keep_valid_rows"],
                allow_missing_columns=opts["allow_missing_columns"],
            )
        except InventoryFileError as exc:
            raise CommandError(str(exc)) from exc
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2, default=str))
        else:
            print_report(self.stdout, report)
        if not report["applied"] and not opts["dry_run"]:
            raise CommandError(report["message"])
