"""The spend rollups are small tables whose rows are rewritten by every ledger write
(a posting adds to its month's row). Left at PostgreSQL's defaults they bloat: after
a million-row import each rollup row had a dead copy, and the dashboards' scans read
both. Pages are kept 30% free so the rewrites stay on the page (HOT updates: no index
entry, since the summed columns are not indexed), and autovacuum runs after 2% of the
rows changed instead of 20%."""

from django.db import migrations

TABLES = ("finance_spendunitmonth", "finance_spendinitiativemonth")
SETTINGS = (
    "fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02, "
    "autovacuum_analyze_scale_factor = 0.02"
)
RESET = "fillfactor, autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor"


class Migration(migrations.Migration):
    dependencies = [("finance", "0012_reap_abandoned_work_schedule")]

    operations = [
        migrations.RunSQL(
            [f"ALTER TABLE {t} SET ({SETTINGS})" for t in TABLES],
            [f"ALTER TABLE {t} RESET ({RESET})" for t in TABLES],
        )
    ]
