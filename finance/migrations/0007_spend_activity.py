from django.db import migrations

from portfolio import activity


class Migration(migrations.Migration):
    """A spend posting is activity on its initiative on its posting date (not the day it
    was imported). Statement-level: the import's one INSERT raises every touched
    initiative's date in one UPDATE."""

    dependencies = [
        ("finance", "0006_focus"),
        ("portfolio", "0007_activity_and_stall_policy"),
    ]

    operations = [
        migrations.RunSQL(
            activity.register_source_sql("finance_spendentry", date="r.posted_on"),
            activity.unregister_source_sql("finance_spendentry"),
        ),
        migrations.RunSQL(activity.RECOMPUTE_ALL_SQL, migrations.RunSQL.noop),
    ]
