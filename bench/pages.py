"""Page benchmark: every list and dashboard page, signed in as PMO, finance and a unit
lead, on a generated organisation and on one ten times smaller, with floors measured in
the same run.

    python -m bench org --database scratch_org               # once (minutes)
    python -m bench org --database scratch_org_small --scale 0.1
    python -m bench pages --database scratch_org --small scratch_org_small [--repeat 5]

Each database is timed in its own child process (Django's test ``Client``: the whole
request through middleware, view, queries and template; no network). Per page the
median of ``--repeat`` requests after one warm-up. Floors and targets (issue 15):

- growth: the page at full scale / the same page on the 10x smaller organisation,
  target <= 1.5 (flat in the data);
- dashboards: the page / a bare SQL aggregate over the raw ledger returning the same
  figures (hand-written, one statement, the natural way with dated rates),
  target <= 1 (the page reads maintained rollups, so it can beat the floor);
- a unit lead's money pages / the PMO's same page, target <= 0.3;
- the API's initiative list (first 50) against a plain Django view returning the same
  50 rows (``bench/urls.py``): floor time / API time, target >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
ROLES = {"pmo": "bench-pmo", "finance": "bench-finance", "lead": "bench-lead"}
DASHBOARDS = {"/": "home", "/finance/": "finance index"}
PAGES = [
    "/",
    "/initiatives/",
    "/people/units/",
    "/finance/",
    "/finance/budgets/",
    "/finance/spend/",
    "/governance/gates/",
    "/governance/stalled/",
    "/governance/systems/",
    "/governance/models/",
    "/governance/risk/",
    "/governance/controls/",
    "/governance/fairness/",
    "/governance/explainability/",
    "/governance/incidents/",
    "/governance/access-reviews/",
    "/governance/standards/",
    "/governance/audit/",
    "/governance/",
    "/governance/waivers/",
    "/analytics/flow/",
    "/analytics/scorecard/",
    "/finance/focus/",
    "/finance/focus/unallocated/",
    "/people/inbox/",
    "/people/job-runs/",
    "/people/training/",
    "/initiatives/?stalled=true",
    "/initiatives/new/",
    "/finance/spend/new/",
    "/finance/budgets/request/",
    "/api/v1/audit-events/",
    # One initiative the role may see (the lead's first by code), each tab of its page.
    "/initiatives/{initiative}/",
    "/initiatives/{initiative}/?tab=money",
    "/initiatives/{initiative}/?tab=stages",
    "/initiatives/{initiative}/?tab=outcomes",
    "/initiatives/{initiative}/?tab=governance",
    "/initiatives/{initiative}/?tab=history",
]
MONEY_PAGES = ["/finance/", "/finance/budgets/", "/finance/spend/"]
API = "/api/v1/initiatives/"
API_FLOOR = "/bench/plain-initiatives/"

_RATE = """CASE WHEN s.currency = 'USD' THEN 1 ELSE (
    SELECT r.rate FROM finance_exchangerate r WHERE r.currency = s.currency
    AND r.valid_from <= s.posted_on ORDER BY r.valid_from DESC LIMIT 1) END"""

# The figures each dashboard shows, from the raw ledger in one statement each.
FLOOR_SQL = {
    # PMO home: cost to date per top-level unit, this year's spend per stage, the monthly
    # one-time/operational mix of the last two years, the year's total.
    "pmo /": f"""
        WITH RECURSIVE tree(unit_id, bucket_id) AS (
            SELECT id, id FROM people_businessunit WHERE parent_id IS NULL
            UNION ALL SELECT c.id, t.bucket_id FROM people_businessunit c
            JOIN tree t ON c.parent_id = t.unit_id)
        SELECT t.bucket_id, i.stage, date_trunc('month', s.posted_on) AS month, s.kind,
               SUM(s.amount * {_RATE})
        FROM finance_spendentry s JOIN tree t ON t.unit_id = s.business_unit_id
        JOIN portfolio_initiative i ON i.id = s.initiative_id
        WHERE s.posted_on <= current_date
        GROUP BY GROUPING SETS ((t.bucket_id), (i.stage), (3, s.kind), ())""",
    # Finance home: this year's spend by top-level unit, kind, category and initiative
    # (the variance flags), plus the trailing three months for the run rates.
    "finance /": f"""
        WITH RECURSIVE tree(unit_id, bucket_id) AS (
            SELECT id, id FROM people_businessunit WHERE parent_id IS NULL
            UNION ALL SELECT c.id, t.bucket_id FROM people_businessunit c
            JOIN tree t ON c.parent_id = t.unit_id)
        SELECT t.bucket_id, s.kind, s.category, s.initiative_id,
               SUM(s.amount * {_RATE}) FILTER (WHERE s.posted_on >= date_trunc('year', current_date)),
               SUM(s.amount * {_RATE}) FILTER (
                   WHERE s.posted_on < date_trunc('month', current_date))
        FROM finance_spendentry s JOIN tree t ON t.unit_id = s.business_unit_id
        WHERE s.posted_on <= current_date AND (s.posted_on >= date_trunc('year', current_date)
            OR s.posted_on >= date_trunc('month', current_date) - interval '3 months')
        GROUP BY GROUPING SETS ((t.bucket_id), (s.kind), (s.category), (s.initiative_id), ())""",
    # Finance index: the year's total and per-initiative actual and run rate (flags).
    "* /finance/": f"""
        SELECT s.initiative_id,
               SUM(s.amount * {_RATE}) FILTER (WHERE s.posted_on >= date_trunc('year', current_date)),
               SUM(s.amount * {_RATE}) FILTER (
                   WHERE s.posted_on < date_trunc('month', current_date))
        FROM finance_spendentry s
        WHERE s.posted_on <= current_date AND (s.posted_on >= date_trunc('year', current_date)
            OR s.posted_on >= date_trunc('month', current_date) - interval '3 months')
            AND (%(units)s::bigint[] IS NULL OR s.business_unit_id = ANY(%(units)s::bigint[]))
        GROUP BY GROUPING SETS ((s.initiative_id), ())""",
    # Unit lead home: the year's total and the monthly mix of the lead's units.
    "lead /": f"""
        SELECT date_trunc('month', s.posted_on) AS month, s.kind, SUM(s.amount * {_RATE})
        FROM finance_spendentry s
        WHERE s.posted_on <= current_date AND s.posted_on >= date_trunc('year', current_date)
              - interval '1 year' AND s.business_unit_id = ANY(%(units)s::bigint[])
        GROUP BY GROUPING SETS ((1, 2), ())""",
}


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _child(repeat: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portfolio.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment

    from people.scoping import unit_ids_for

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    out: dict = {"pages": {}, "floors": {}, "api": {}}
    users = {role: get_user_model().objects.get(username=name) for role, name in ROLES.items()}
    lead_units = sorted(unit_ids_for(users["lead"], "view"))
    from portfolio.models import Initiative

    initiative = Initiative.objects.filter(business_unit_id__in=lead_units).order_by("code")[0]
    with override_settings(ROOT_URLCONF="bench.urls", DEBUG=False):
        for role, user in users.items():
            client = Client()
            client.force_login(user)
            for page_url in PAGES:
                url = page_url.format(initiative=initiative.pk)
                status = client.get(url).status_code
                if status != 200:
                    out["pages"][f"{role} {page_url}"] = {"status": status}
                    continue
                ms = _median_ms(lambda c=client, u=url: c.get(u), repeat)
                out["pages"][f"{role} {page_url}"] = {"status": status, "ms": ms}
            if role in ("pmo", "lead"):
                out["api"][role] = {
                    "api_ms": _median_ms(lambda c=client: c.get(API), repeat * 4),
                    "floor_ms": _median_ms(lambda c=client: c.get(API_FLOOR), repeat * 4),
                }
    for key, sql in FLOOR_SQL.items():
        roles = ["pmo", "finance", "lead"] if key.startswith("*") else [key.split()[0]]
        for role in roles:
            units = None if role != "lead" else lead_units

            def run(sql=sql, units=units):
                with connection.cursor() as cursor:
                    cursor.execute(sql.replace("%(units)s", "%s"), [units] * sql.count("%(units)s"))
                    cursor.fetchall()

            out["floors"][f"{role} {key.split()[1]}"] = _median_ms(run, max(3, repeat // 2))
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM finance_spendentry")
        out["ledger_rows"] = cursor.fetchone()[0]
        cursor.execute("SHOW jit")
        out["jit"] = cursor.fetchone()[0]
    return out


def _run_child(database: str, repeat: int) -> dict:
    from bench.org import database_url

    env = {**os.environ, "DATABASE_URL": database_url(database), "DEBUG": "false"}
    env.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.pages", "--child", str(repeat)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit(f"The page benchmark child failed on {database}.")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "NOT met")


def report(full: dict, small: dict) -> list[str]:
    lines = [
        f"ledger rows: {full['ledger_rows']:,} vs {small['ledger_rows']:,} (jit={full['jit']})",
        f"{'role':8} {'page':30} {'full ms':>9} {'small ms':>9} {'growth':>7} "
        f"{'floor ms':>9} {'/floor':>7} {'lead/pmo':>8}  targets",
    ]
    met = {"growth": [], "floor": [], "lead": [], "api": []}
    for key, page in full["pages"].items():
        role, url = key.split(" ", 1)
        if "ms" not in page:
            lines.append(f"{role:8} {url:30} status {page['status']}")
            continue
        ms = page["ms"]
        other = small["pages"].get(key, {}).get("ms")
        growth = ms / other if other else None
        floor = full["floors"].get(key)
        over_floor = ms / floor if floor else None
        lead_ratio = None
        if role == "lead" and url in MONEY_PAGES:
            pmo = full["pages"].get(f"pmo {url}", {}).get("ms")
            lead_ratio = ms / pmo if pmo else None
        checks = []
        if growth is not None:
            checks.append(f"growth<=1.5 {_verdict(growth <= 1.5)}")
            met["growth"].append(growth <= 1.5)
        if over_floor is not None:
            checks.append(f"floor<=1 {_verdict(over_floor <= 1)}")
            met["floor"].append(over_floor <= 1)
        if lead_ratio is not None:
            checks.append(f"lead<=0.3 {_verdict(lead_ratio <= 0.3)}")
            met["lead"].append(lead_ratio <= 0.3)
        lines.append(
            f"{role:8} {url:30} {ms:9.1f} {other or 0:9.1f} {growth or 0:7.2f} "
            f"{floor or 0:9.1f} {over_floor or 0:7.2f} {lead_ratio or 0:8.2f}  " + ", ".join(checks)
        )
    for role, api in full["api"].items():
        ratio = api["floor_ms"] / api["api_ms"]
        met["api"].append(ratio >= 0.5)
        lines.append(
            f"API {role}: list {api['api_ms']:.1f} ms, plain Django floor {api['floor_ms']:.1f} ms, "
            f"speed {ratio:.2f}x the floor (target >= 0.5: {_verdict(ratio >= 0.5)})"
        )
    lines.append("summary:")
    names = {
        "growth": "every page <= 1.5x the 10x smaller org (own pages)",
        "floor": "each dashboard <= 1x the bare SQL aggregate",
        "lead": "unit lead's money pages <= 0.3x PMO's",
        "api": "API list >= 0.5x plain Django",
    }
    for k, name in names.items():
        results = met[k]
        lines.append(
            f"  {name}: {sum(results)}/{len(results)} "
            f"{'met' if results and all(results) else 'NOT met'}"
        )
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pages")
    parser.add_argument("--database", default="scratch_org")
    parser.add_argument("--small", default="scratch_org_small")
    parser.add_argument("--repeat", type=int, default=5)
    args, _ = parser.parse_known_args(argv)
    full = _run_child(args.database, args.repeat)
    small = _run_child(args.small, args.repeat)
    print("\n".join(report(full, small)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(int(sys.argv[2]))))
    else:
        sys.exit(main(sys.argv[1:]))
