from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "finance"
    verbose_name = "Finance"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from finance import permissions  # noqa: F401  (registers the finance checks)
        from finance.rollups import ensure_reporting_currency
        from finance.variance import ensure_reporting_currency as ensure_variance_currency

        post_migrate.connect(
            ensure_reporting_currency, sender=self, dispatch_uid="finance.rollups.currency"
        )
        # After the rollups' (connected first, so run first): re-sums the variance table.
        post_migrate.connect(
            ensure_variance_currency,
            sender=self,
            dispatch_uid="finance.variance.currency",
        )
