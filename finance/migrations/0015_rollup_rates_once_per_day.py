"""Reinstall the spend rollup functions: the rollup triggers now look a rate up once per
(currency, day) of the statement's rows (a MATERIALIZED CTE) instead of once per row.
Same sums; no rebuild needed."""

from django.db import migrations


def _install(apps, schema_editor):
    from finance import rollups

    rollups.install()


class Migration(migrations.Migration):
    dependencies = [("finance", "0014_list_sort_indexes")]

    operations = [migrations.RunPython(_install, migrations.RunPython.noop)]
