"""The maintained variance figures (finance/variance.py): the table, its generated
run rate and overrun (rounded as finance.selectors rounds them) with the index the
finance index pages flags by, the triggers that keep it exact, and its first build."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('finance', '0017_budget_rollup'),
        ('portfolio', '0019_stalled_sort_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='VarianceMonth',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField()),
                ('window_spend', models.DecimalField(decimal_places=10, max_digits=32)),
                ('budget', models.DecimalField(decimal_places=10, max_digits=32)),
                ('initiative', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='portfolio.initiative')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('initiative', 'month'), name='variance_month_key')],
            },
        ),
    ]


def _install(apps, schema_editor):
    from finance import variance

    variance.install()
    variance.rebuild()
    variance.mark_currency()


def _uninstall(apps, schema_editor):
    from finance import variance

    schema_editor.execute(variance.UNINSTALL_SQL)


def _columns(apps, schema_editor):
    from finance import variance

    schema_editor.execute(variance.COLUMNS_SQL)


def _drop_columns(apps, schema_editor):
    from finance import variance

    schema_editor.execute(variance.DROP_COLUMNS_SQL)


Migration.operations += [
    migrations.RunPython(_columns, _drop_columns),
    migrations.RunPython(_install, _uninstall),
]
