"""manage.py export_inventory OUT.csv|OUT.xlsx [--mapping FILE] [--user USERNAME] [--unit CODE]"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from governance.inventory.exporter import export_csv, export_queryset, export_xlsx
from governance.inventory.mapping import BUILTIN_FORMATS, MappingError, load_mapping
from portfolio.models import Initiative


class Command(BaseCommand):
    help = "Export initiatives in the OMB 2025 inventory layout (CSV or XLSX by extension)."

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path)
        parser.add_argument("--format", default="omb-2025", choices=sorted(BUILTIN_FORMATS))
        parser.add_argument("--mapping", type=Path, help="Write in this mapping file's layout")
        parser.add_argument("--user", help="Export only what this user may see")
        parser.add_argument("--unit", help="Only this business unit (code) and its children")
        parser.add_argument("--source", help="Only initiatives imported from this source")

    def handle(self, *args, out: Path, **opts):
        try:
            if opts["mapping"]:
                mapping = load_mapping(
                    text=opts["mapping"].read_bytes(), filename=opts["mapping"].name
                )
            else:
                mapping = load_mapping(format_name=opts["format"])
        except (MappingError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        qs = Initiative.objects.all()
        if opts["user"]:
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"No user named {opts['user']!r}.")
            qs = Initiative.objects.visible_to(user)
        if opts["unit"]:
            qs = qs.filter(business_unit__code=opts["unit"]) | qs.filter(
                business_unit__parent__code=opts["unit"]
            )
        if opts["source"]:
            qs = qs.filter(source=opts["source"])
        rows = export_queryset(qs)
        data = (
            export_xlsx(rows, mapping)
            if out.suffix.lower() == ".xlsx"
            else export_csv(rows, mapping)
        )
        out.write_bytes(data)
        self.stdout.write(f"Wrote {rows.count()} initiatives to {out}.")
