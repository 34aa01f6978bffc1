"""Reinstall the value rollup's functions: the writers of one unit's steps take turns on a
transaction-level advisory lock per unit (two writers could interleave the removal of old
segments and the addition of new ones into a deadlock). Same rows; no rebuild."""

from django.db import migrations


def _install(apps, schema_editor):
    from finance import value_rollup

    value_rollup.install()


class Migration(migrations.Migration):
    dependencies = [("finance", "0022_value_segment_blank")]

    operations = [migrations.RunPython(_install, migrations.RunPython.noop)]
