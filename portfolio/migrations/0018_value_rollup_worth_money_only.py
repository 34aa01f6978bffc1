"""The value rollup keeps only the KPIs worth money (business, with a baseline and a value
per unit): reinstall its functions and triggers and rebuild it."""

from django.db import migrations


def _install(apps, schema_editor):
    from portfolio import value_rollup

    value_rollup.install()
    value_rollup.rebuild()


class Migration(migrations.Migration):
    dependencies = [
        ("portfolio", "0017_stage_date_known"),
    ]

    operations = [migrations.RunPython(_install, migrations.RunPython.noop)]
