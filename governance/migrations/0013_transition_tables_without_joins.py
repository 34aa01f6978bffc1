from django.db import migrations


def _install(apps, schema_editor):
    from governance import facts

    facts.install()


class Migration(migrations.Migration):
    """Reinstall the governance facts' trigger functions: an update's changed rows are found
    with EXCEPT (``portfolio.sql_triggers.changed_rows``), not by joining the two
    transition tables. Functions only."""

    dependencies = [
        ("governance", "0012_initiative_facts"),
        ("portfolio", "0024_transition_tables_without_joins"),
    ]

    operations = [migrations.RunPython(_install, migrations.RunPython.noop)]
