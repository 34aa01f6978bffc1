"""The audit trail's reads at scale: the web log's page, its count, the API and the
initiative History tab, against a floor measured in the same run.

    python -m bench audit_log --generate 1000000   # once: events, set-based SQL
    python -m bench audit_log                      # time the reads

- Floor: bare SQL returning the same page of rows (the newest 50 events of the spend
  event table from its (time, id) index, joined to their contexts).
- ``old_*``: the queries the log ran before keyset paging (``count(*)`` over a UNION ALL
  of every event table, then ``ORDER BY ... LIMIT 50 OFFSET n``), run on the same data.
- ``page`` / ``count`` / ``api`` / ``history``: what the app runs now (``AuditLog.page``,
  the capped count, ``GET /api/v1/audit-events/`` and an initiative's History tab,
  through Django's test client as a superuser).
Writes to ``DATABASE_URL``: point it at a scratch database.
"""

from __future__ import annotations

import os
import statistics
import sys
import time


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portfolio.settings")
    import django

    django.setup()


def _best(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def generate(n: int) -> None:
    """``n`` spend events (a tenth as many initiative events), over a year, one context
    per 1,000 events, written as the import and the triggers would: set-based."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT id, business_unit_id FROM portfolio_initiative ORDER BY id LIMIT 1")
        row = c.fetchone()
    if row is None:
        from people.models import BusinessUnit
        from portfolio.models import Initiative

        unit = BusinessUnit.objects.create(code="BENCH", slug="bench", name="Bench unit")
        made = Initiative.objects.create(code="AI-BENCH", name="Bench", business_unit=unit)
        row = (made.pk, unit.pk)
    initiative, unit = row
    with connection.cursor() as c:
        c.execute(
            "INSERT INTO pghistory_context (id, metadata, created_at, updated_at) "
            "SELECT md5('bench' || g)::uuid, jsonb_build_object('user', 1), now(), now() "
            "FROM generate_series(1, %s) g ON CONFLICT DO NOTHING",
            [n // 1000 + 1],
        )
        c.execute(
            """
            INSERT INTO finance_spendentryevent (pgh_created_at, pgh_label, id, created_at,
                updated_at, posted_on, kind, category, amount, currency, vendor, source,
                reference, business_unit_id, initiative_id, pgh_context_id, pgh_obj_id)
            SELECT now() - (g || ' seconds')::interval * 30, 'insert', 10000000 + g, now(),
                now(), current_date - (g %% 365), 'operational', 'compute', (g %% 9000) + 0.5,
                'USD', 'Vendor ' || (g %% 50), 'bench', 'B-' || g, %s, %s,
                md5('bench' || (g / 1000 + 1))::uuid, 10000000 + g
            FROM generate_series(1, %s) g
            """,
            [unit, initiative, n],
        )
        c.execute(
            """
            INSERT INTO portfolio_initiativeevent (pgh_created_at, pgh_label, id, created_at,
                updated_at, code, name, description, stage, stage_entered_at, status,
                business_unit_id, pgh_context_id, pgh_obj_id)
            SELECT now() - (g || ' seconds')::interval * 300, 'update', i.id, i.created_at,
                now(), i.code, i.name || ' ' || g, i.description, i.stage, i.stage_entered_at,
                i.status, i.business_unit_id, md5('bench' || (g / 1000 + 1))::uuid, i.id
            FROM generate_series(1, %s) g, portfolio_initiative i WHERE i.id = %s
            """,
            [n // 10, initiative],
        )
        c.execute("ANALYZE")
    print(f"generated {n:,} spend events and {n // 10:,} initiative events")


def _old_union(columns: str) -> tuple[str, list]:
    """The UNION ALL the log ran before (governance.selectors.AuditLog at f990712)."""
    from governance.audit import event_models

    parts, params = [], []
    for m in event_models():
        parts.append(
            f"SELECT %s AS pgh_model, %s AS obj_model, {columns} "
            f'FROM "{m._meta.db_table}" e LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id'
        )
        params += [m._meta.label, m.pgh_tracked_model._meta.label]
    return " UNION ALL ".join(parts), params


def run() -> int:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from governance.audit import AuditLog
    from portfolio.models import Initiative

    User = get_user_model()
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM finance_spendentryevent")
        spend_events = c.fetchone()[0]
        c.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'pgh_fin_spendentry_at'")
        indexed = bool(c.fetchone()[0])
    print(f"spend events: {spend_events:,}; time indexes: {'yes' if indexed else 'no'}")
    if not Initiative.objects.exists():
        print("  no portfolio: run with --generate N first; skipped")
        return 0

    def floor():
        with connection.cursor() as c:
            c.execute(
                "SELECT e.pgh_id, e.pgh_created_at, e.pgh_label, e.pgh_obj_id, c.metadata "
                "FROM finance_spendentryevent e LEFT JOIN pghistory_context c "
                "ON c.id = e.pgh_context_id ORDER BY e.pgh_created_at DESC, e.pgh_id DESC "
                "LIMIT 50"
            )
            c.fetchall()

    def old_count():
        sql, params = _old_union("1 AS one")
        with connection.cursor() as c:
            c.execute(f"SELECT count(*) FROM ({sql}) t", params)
            c.fetchone()

    def old_page(offset=0):
        sql, params = _old_union(
            "e.pgh_id, e.pgh_created_at, e.pgh_label, e.pgh_obj_id::text AS obj_id, "
            "c.metadata AS ctx"
        )
        with connection.cursor() as c:
            c.execute(
                f"SELECT * FROM ({sql}) t ORDER BY pgh_created_at DESC, pgh_id DESC "
                "LIMIT 50 OFFSET %s",
                [*params, offset],
            )
            c.fetchall()

    log = AuditLog()
    first = log.page()
    deep = first
    for _ in range(20):  # the 21st page, by cursor
        deep = log.page(after=deep.next)
    user, _ = User.objects.get_or_create(
        username="bench-superuser", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)
    initiative = Initiative.objects.order_by("id").first()

    def get(url, **params):
        response = client.get(url, params)
        assert response.status_code == 200, (url, response.status_code)

    results = {"floor (bare SQL, same 50 rows)": _best(floor)}
    results["old: count(*) of the union"] = _best(old_count, 3)
    results["old: page 1 (sort the union)"] = _best(old_page, 3)
    results["old: page 21 (OFFSET 1000)"] = _best(lambda: old_page(1000), 3)
    results["new: page 1 (AuditLog.page)"] = _best(lambda: log.page())
    results["new: page 21 (cursor)"] = _best(lambda: log.page(after=deep.next))
    results["new: capped count (1,000)"] = _best(lambda: log.count(cap=1000))
    results["new: web audit log page"] = _best(lambda: get("/governance/audit/"))
    results["new: GET /api/v1/audit-events/"] = _best(lambda: get("/api/v1/audit-events/"))
    results["new: ?model=governance.ModelVersion"] = _best(
        lambda: get("/api/v1/audit-events/", model="governance.ModelVersion")
    )
    results["new: initiative History tab"] = _best(
        lambda: get(f"/initiatives/{initiative.pk}/", tab="history")
    )
    base = results["floor (bare SQL, same 50 rows)"]
    for name, seconds in results.items():
        print(f"  {name:42s} {seconds * 1000:10.1f} ms  {seconds / base:8.1f}x floor")
    return 0


def main(argv: list[str]) -> int:
    _setup()
    if "--generate" in argv:
        generate(int(argv[argv.index("--generate") + 1]))
        return 0
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
