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

DEMO_LEADS = ("DOJ", "HHS", "NASA")
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
            "--no-leads",
            action="store_true",
            help="Do not create the demo agency leads (lead-doj, lead-hhs, lead-nasa)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if the federal portfolio is already loaded",
        )

    def handle(self, *args, path: Path | None, if_empty: bool, no_leads: bool, **opts):
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
        if settings.DEBUG and not no_leads:
            self._demo_leads()

    def _demo_leads(self) -> None:
        """A lead per demo agency, so a unit-scoped view of real data can be tried
        (development only: the password is DEMO_PASSWORD)."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.hashers import make_password

        from people.models import BusinessUnit, UnitMembership, UnitRole
        from people.services import sync_membership_permissions

        users = get_user_model()
        made = []
        from django.contrib.auth.models import Group

        from people.roles import AUDITOR, COE, FINANCE, PMO

        # On a database holding only the federal portfolio, the global roles need logins too.
        for username, group in (
            ("pmo", PMO),
            ("finance", FINANCE),
            ("coe", COE),
            ("auditor", AUDITOR),
        ):
            user, created = users.objects.get_or_create(
                username=username,
                defaults={
                    "email": f"{username}@example.org",
                    "is_staff": True,
                    "password": make_password(settings.DEMO_PASSWORD),
                },
            )
            if created:
                user.groups.add(Group.objects.get(name=group))
                made.append(username)
        for code in DEMO_LEADS:
            unit = BusinessUnit.objects.filter(code=code, parent__isnull=True).first()
            if unit is None:
                continue
            user, created = users.objects.get_or_create(
                username=f"lead-{code.lower()}",
                defaults={
                    "email": f"lead-{code.lower()}@example.org",
                    "first_name": code,
                    "last_name": "Lead",
                    "password": make_password(settings.DEMO_PASSWORD),
                },
            )
            UnitMembership.objects.get_or_create(
                user=user, business_unit=unit, defaults={"role": UnitRole.LEAD}
            )
            sync_membership_permissions(user=user, business_unit=unit)
            if unit.lead_id is None:
                BusinessUnit.objects.filter(pk=unit.pk).update(lead=user)
            made.append(user.username)
        if made:
            self.stdout.write(
                f"Demo logins (password DEMO_PASSWORD): {', '.join(made)}; PMO sees every agency."
            )
