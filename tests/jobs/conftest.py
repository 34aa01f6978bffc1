import pytest


@pytest.fixture(autouse=True)
def _locmem_email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def default_schedules(db):
    """The beat rows the data migration creates. Re-applied here (idempotently) because a
    transactional test elsewhere may have flushed them."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("portfolio.migrations.0003_default_periodic_jobs")
    migration.create_defaults(apps, None)
    # Later schedules, each added by its app's own data migration: the gate-criteria
    # recheck scan, the daily email digest, the reapers of abandoned jobs and batches.
    for later in (
        "governance.migrations.0009_rules_periodic_jobs",
        "portfolio.migrations.0012_daily_email_digest_schedule",
        "finance.migrations.0012_reap_abandoned_work_schedule",
    ):
        importlib.import_module(later).create(apps, None)
    return migration
