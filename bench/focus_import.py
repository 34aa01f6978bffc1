"""FOCUS import benchmark: ``finance.focus.services.focus_import`` end to end versus floors
measured in the same run on the same file.

    DATABASE_URL=postgresql://.../scratch python -m bench focus_import --rows 1000000

- The file (FOCUS 1.3 CSV, the mandatory columns and those the import reads, 3 providers'
  worth of services, 80% of rows tagged with an initiative code, 2% credits, some AI
  token charges) is generated once per row count (seeded) under ``var/bench/``.
- Floors: reading the file (Python, 1 MB chunks) and a bare ``COPY`` of its rows into an
  unindexed table of text columns.
- Measured, each in a child process so its peak memory (max RSS) is the import's alone:
  a first import (every row new: check, replace the period, allocate, post to the
  ledger) and a re-import of the same file (every row unchanged: the restatement path).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

from bench import _child as child

COLUMNS = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "HostProviderName",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ResourceId",
    "ServiceCategory",
    "ServiceName",
    "ServiceProviderName",
    "SkuId",
    "SkuPriceDetails",
    "SubAccountId",
    "Tags",
]
SERVICES = [
    ("AmazonEC2", "Compute", "Hours"),
    ("AmazonS3", "Storage", "GB-Months"),
    ("AmazonRDS", "Databases", "Hours"),
    ("Amazon Bedrock", "AI and Machine Learning", "1K Tokens"),
    ("AmazonSageMaker", "AI and Machine Learning", "Hours"),
    ("AWSLambda", "Compute", "Requests"),
]
MODELS = ("claude-sonnet", "titan-embed", "llama-70b")


def initiative_codes(count: int) -> list[str]:
    return [f"FOCUS-{i:04d}" for i in range(1, count + 1)]


def generate(path: Path, *, rows: int, initiatives: int, seed: int) -> None:
    rng = random.Random(seed)
    codes = initiative_codes(initiatives)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for i in range(rows):
            service, category, unit = SERVICES[i % len(SERVICES)]
            day = 1 + i % 28
            hour = i % 24
            credit = i % 50 == 0
            cost = f"{rng.randint(1, 2_000_000) / 10_000:.4f}"
            if credit:
                cost = "-" + cost
            details, meter_unit, quantity = "", unit, f"{rng.randint(1, 10_000) / 100:.2f}"
            if unit == "1K Tokens":
                details = json.dumps(
                    {"x_ModelName": MODELS[i % 3], "x_TokenType": ("input", "output")[i % 2]}
                )
            tags = (
                json.dumps({"ai-initiative": rng.choice(codes), "env": "prod"})
                if rng.random() < 0.8
                else ""
            )
            writer.writerow(
                [
                    cost,
                    "100000000001",
                    "Bench billing",
                    "USD",
                    "2026-06-01T00:00:00Z",
                    "2026-05-01T00:00:00Z",
                    "Credit" if credit else "Usage",
                    "",
                    f"{service} usage",
                    "One-Time" if credit else "Usage-Based",
                    f"2026-05-{day:02d}T{hour:02d}:59:59Z",
                    f"2026-05-{day:02d}T{hour:02d}:00:00Z",
                    "" if credit else quantity,
                    "" if credit else meter_unit,
                    cost,
                    cost,
                    "AWS",
                    "AWS",
                    cost,
                    quantity,
                    unit,
                    f"arn:aws:bench:{i}",
                    category,
                    service,
                    "AWS",
                    f"SKU-{i % 97}",
                    details,
                    f"2000000000{i % 7}",
                    tags,
                ]
            )
    tmp.replace(path)


def _prepare(initiatives: int) -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from finance.focus.models import AllocationRule
    from people.models import BusinessUnit
    from people.roles import FINANCE, ensure_global_roles
    from portfolio.models import Initiative

    ensure_global_roles()
    unit, _ = BusinessUnit.objects.get_or_create(
        code="BENCH-FOCUS", defaults={"slug": "bench-focus", "name": "FOCUS benchmark unit"}
    )
    existing = set(
        Initiative.objects.filter(code__startswith="FOCUS-").values_list("code", flat=True)
    )
    Initiative.objects.bulk_create(
        [
            Initiative(code=code, name=f"Benchmark {code}", business_unit=unit)
            for code in initiative_codes(initiatives)
            if code not in existing
        ]
    )
    AllocationRule.objects.get_or_create(
        name="bench: ai-initiative tag", defaults={"tag_key": "ai-initiative", "priority": 10}
    )
    user, _ = get_user_model().objects.get_or_create(username="bench-finance")
    user.groups.add(Group.objects.get(name=FINANCE))
    return user.username


def _read_floor(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as fh:
        while fh.read(1 << 20):
            pass
    return time.perf_counter() - start


def _copy_floor(path: Path) -> float:
    from django.db import connection, transaction

    columns = ", ".join(f'"{c}" text' for c in COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_focus_copy")
        cursor.execute(f"CREATE TABLE bench_focus_copy ({columns})")
    start = time.perf_counter()
    sql = "COPY bench_focus_copy FROM STDIN WITH (FORMAT csv, HEADER true)"
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        path.open("rb") as fh,
        cursor.cursor.copy(sql) as copy,
    ):
        while chunk := fh.read(1 << 20):
            copy.write(chunk)
    elapsed = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_focus_copy")
    return elapsed


def _child(path: str, username: str) -> None:
    child.django_setup()
    from django.contrib.auth import get_user_model

    from finance.focus.services import focus_import

    user = get_user_model().objects.get(username=username)
    start = time.perf_counter()
    result = focus_import(acting_user=user, file=path)
    elapsed = time.perf_counter() - start
    record = result.record
    child.report(
        {
            "seconds": elapsed,
            "status": record.status,
            "rows": record.report.get("rows"),
            "postings": record.report.get("postings"),
            "errors": record.errors[:3],
            "phases": record.report.get("timings"),
        }
    )


def _run_child(path: Path, username: str) -> dict:
    return child.run("bench.focus_import", path, username)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench focus_import")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--initiatives", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    args, _ = parser.parse_known_args(argv)
    child.django_setup()
    from django.conf import settings
    from django.db import connection

    path = Path(settings.VAR_DIR) / "bench" / f"focus_{args.rows}_{args.seed}.csv"
    if not path.exists():
        start = time.perf_counter()
        generate(path, rows=args.rows, initiatives=args.initiatives, seed=args.seed)
        print(f"generated {path} in {time.perf_counter() - start:.1f}s")
    size_mb = path.stat().st_size / 1e6
    username = _prepare(args.initiatives)
    with connection.cursor() as cursor:  # start from an empty period: a first import
        cursor.execute("DELETE FROM finance_spendentry WHERE source = 'focus'")
        cursor.execute("DELETE FROM finance_focusline WHERE billing_account_id = '100000000001'")

    read_s = _read_floor(path)
    copy_s = _copy_floor(path)
    first = _run_child(path, username)
    again = _run_child(path, username)
    if first["status"] != "succeeded":
        print("import refused:", first["errors"])
        return 1
    print(f"rows: {args.rows:,} ({size_mb:.0f} MB FOCUS CSV)")
    print(f"read the file:      {read_s:8.2f} s")
    print(f"bare COPY (floor):  {copy_s:8.2f} s")
    print(
        f"import (all new):   {first['seconds']:8.2f} s  ratio {first['seconds'] / copy_s:.1f}x "
        f"COPY  peak RSS {first['max_rss_mb']:.0f} MB  {first['rows']}  "
        f"postings {first['postings']}  phases {first['phases']}"
    )
    print(
        f"re-import (same):   {again['seconds']:8.2f} s  ratio {again['seconds'] / copy_s:.1f}x "
        f"COPY  peak RSS {again['max_rss_mb']:.0f} MB  {again['rows']}  phases {again['phases']}"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:4])
    else:
        sys.exit(main(sys.argv[1:]))
