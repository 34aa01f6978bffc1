"""A partial index on the initiative rollup's months with postings that have no rate: the
variance flags and budget versus actual by initiative ask the ledger which currencies lack
a rate for those rows only, and found them by scanning the year's rows (55,000 at 5k)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('finance', '0018_variance_month'),
        ('people', '0007_unit_roles_are_not_staff'),
        ('portfolio', '0020_kpi_last_measured'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='spendinitiativemonth',
            index=models.Index(condition=models.Q(('missing_entries__gt', 0)), fields=['month'], name='spend_init_month_missing'),
        ),
    ]
