from django.db import migrations


def _install(apps, schema_editor):
    from governance import facts

    facts.install()
    facts.rebuild()


def _uninstall(apps, schema_editor):
    from governance import facts

    schema_editor.execute(facts.UNINSTALL_SQL)


class Migration(migrations.Migration):
    """The governance columns of the scorecard's per-initiative facts: their triggers on
    AI systems, model versions and risk assessments, and a backfill."""

    dependencies = [
        ("governance", "0011_list_sort_indexes"),
        ("portfolio", "0022_initiative_facts"),
    ]

    operations = [migrations.RunPython(_install, _uninstall)]
