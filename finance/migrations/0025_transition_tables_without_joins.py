from django.db import migrations

def _install(apps, schema_editor):
    from finance import rollups, stage_rollup, value_rollup

    rollups.install()
    value_rollup.install()
    stage_rollup.install()


class Migration(migrations.Migration):
    """Reinstall the trigger functions of the spend rollups, the value segments and spend by
    stage: an update's changed rows are found with EXCEPT (``sql_triggers.changed_rows``),
    not by joining the two transition tables (a join planned once per session for a one-row
    update stayed a nested loop for the next bulk update: seconds); a stage change moves its
    months with a statement planned for its own size. Functions only."""

    dependencies = [
        ("finance", "0024_spend_stage_month"),
        ("portfolio", "0024_transition_tables_without_joins"),
    ]

    operations = [migrations.RunPython(_install, migrations.RunPython.noop)]
