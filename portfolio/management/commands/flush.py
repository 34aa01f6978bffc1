"""``flush`` as the owner role: the app role may not TRUNCATE the audit tables."""

from __future__ import annotations

from django.core.management.commands.flush import Command as FlushCommand

from portfolio.db_roles import as_owner


class Command(FlushCommand):
    def handle(self, **options):
        with as_owner(options["database"]):
            super().handle(**options)
