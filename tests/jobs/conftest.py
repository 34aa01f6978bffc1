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
    # The gate-criteria recheck scan is scheduled by governance's own migration.
    importlib.import_module("governance.migrations.0009_rules_periodic_jobs").create(apps, None)
    return migration
