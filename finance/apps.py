from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "finance"
    verbose_name = "Finance"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from finance import permissions  # noqa: F401  (registers the finance checks)
        from finance.rollups import ensure_reporting_currency

        post_migrate.connect(
            ensure_reporting_currency, sender=self, dispatch_uid="finance.rollups.currency"
        )
