"""``migrate`` as the owner role, then the app role's grants (portfolio/db_roles.py)."""

from __future__ import annotations

from django.core.management.commands.migrate import Command as MigrateCommand

from portfolio.db_roles import as_owner, grant_app_role


class Command(MigrateCommand):
    help = MigrateCommand.help + " Runs as DATABASE_OWNER_URL's role, then grants the app role."

    def handle(self, *args, **options):
        database = options["database"]
        with as_owner(database) as app_role:
            super().handle(*args, **options)
            if app_role:
                grant_app_role(database, app_role)
