from django.db import migrations

def _install(apps, schema_editor):
    from portfolio import facts, flow_rollup, value_rollup

    value_rollup.install()
    facts.install()
    flow_rollup.install()


class Migration(migrations.Migration):
    """Reinstall the trigger functions of the value rollup, the scorecard's facts and the flow
    rollup: an update's changed rows are found with EXCEPT (``sql_triggers.changed_rows``),
    not by joining the two transition tables (a join planned once per session for a one-row
    update stayed a nested loop for the next bulk update: seconds). Functions only; the
    tables are unchanged."""

    dependencies = [("portfolio", "0023_flow_stay")]

    # Backwards: the functions stay (the earlier ones were equivalent, only slower).
    operations = [migrations.RunPython(_install, migrations.RunPython.noop)]
