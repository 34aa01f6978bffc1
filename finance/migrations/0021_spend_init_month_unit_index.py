"""The initiative rollup by unit and month: a unit lead's variance flags (and budget versus
actual) read their units' rows of the trailing months through it instead of intersecting
the month index (every unit) with the unit index (every month): at 5k, 8 -> 6 ms."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('finance', '0020_spend_year_rollup'),
        ('people', '0007_unit_roles_are_not_staff'),
        ('portfolio', '0020_kpi_last_measured'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='spendinitiativemonth',
            index=models.Index(fields=['business_unit', 'month'], name='spend_init_month_unit'),
        ),
    ]
