"""Load the US federal AI use-case inventory (2025) as a second demo portfolio.

``manage.py seed_federal [--path FILE] [--if-empty]``: 41 agencies become top-level
business units, their bureaus child units, and 3,600 use cases initiatives with risk
assessments and attestations. Rows the importer rejects (blank name, colliding ids)
are reported and skipped; running it again changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from governance.inventory.reader import InventoryFileError
from governance.management.commands.import_inventory import print_report
from portfolio.models import Initiative

DEFAULT_PATH = Path("..") / "shared" / "data" / "us-federal-ai-inventory-2025" / "use_cases.csv"


class Command(BaseCommand):
    help = "Load the US federal AI use-case inventory as a second demo portfolio."

    def add_arguments(self, parser):
        parser.add_argument(
            "--path",
            type=Path,
            default=None,
            help=f"The inventory CSV (default: {DEFAULT_PATH}, relative to the project)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if the federal portfolio is already loaded",
        )

    def handle(self, *args, path: Path | None, if_empty: bool, **opts):
        mapping = load_mapping(format_name="omb-2025")
        if if_empty and Initiative.objects.filter(source=mapping.source).exists():
            self.stdout.write("The federal portfolio is already loaded.")
            return
        path = path or Path(settings.BASE_DIR) / DEFAULT_PATH
        if not path.exists():
            raise CommandError(f"No inventory at {path}; pass --path.")
        try:
            report = inventory_import(
                acting_user=None,
                data=path.read_bytes(),
                filename=path.name,
                mapping=mapping,
                keep_valid_rows=True,
            )
        except InventoryFileError as exc:
            raise CommandError(str(exc)) from exc
        print_report(self.stdout, report)
