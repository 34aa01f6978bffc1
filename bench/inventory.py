"""Inventory import benchmark: the OMB 2025 federal file (3,611 rows) through
``governance.inventory.importer.inventory_import`` versus floors measured in the same run.

    DATABASE_URL=postgresql://.../scratch python -m bench inventory [--file PATH] [--repeat N]

Floors, both into a bare unindexed table of 36 text columns:
- ``copy``: PostgreSQL's own ``COPY ... FROM STDIN (FORMAT csv)`` of the file's bytes;
- ``parse+copy``: Python's ``csv`` module reads the file and ``cursor.copy().write_row``
  sends the rows (the least any Python importer must do).
Measured: a first import (units, initiatives, risk assessments, attestations, audit
triggers), a re-import of the same file (every row unchanged, no writes) and a dry run.
Everything runs inside one transaction that is rolled back, so the scratch database is
left as it was and each run starts from the same state.
Target (issue 6): "in seconds, not minutes": first import <= 15 s of wall time.

``--publications`` (issue 17): builds the XLSX publication of the same inventory (a blank
first row, then the long question texts of OMB's data dictionary as headers), imports the
CSV and the XLSX each into a rolled-back transaction, and compares the counts of
initiatives, risk assessments and attestations and a digest of every stored value.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_FILE = (
    BASE_DIR.parent / "shared" / "data" / "us-federal-ai-inventory-2025" / "use_cases.csv"
)
TARGET_SECONDS = 15.0


class _Rollback(Exception):
    pass


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portfolio.settings")
    import django

    django.setup()


def _bare_table(cursor, n: int) -> None:
    cursor.execute("DROP TABLE IF EXISTS bench_inventory_bare")
    cols = ", ".join(f"c{i} text" for i in range(n))
    cursor.execute(f"CREATE TABLE bench_inventory_bare ({cols})")


def _floors(data: bytes) -> dict[str, float]:
    from django.db import connection

    width = len(next(csv.reader(io.StringIO(data.decode("utf-8-sig")))))
    with connection.cursor() as cursor:
        _bare_table(cursor, width)
        start = time.perf_counter()
        with cursor.cursor.copy(
            "COPY bench_inventory_bare FROM STDIN WITH (FORMAT csv, HEADER true)"
        ) as copy:
            copy.write(data[3:] if data.startswith(b"\xef\xbb\xbf") else data)
        copy_s = time.perf_counter() - start

        _bare_table(cursor, width)
        start = time.perf_counter()
        rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        next(rows)
        with cursor.cursor.copy("COPY bench_inventory_bare FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        parse_copy_s = time.perf_counter() - start
        cursor.execute("SELECT count(*) FROM bench_inventory_bare")
        copied = cursor.fetchone()[0]
    return {"copy_s": copy_s, "parse_copy_s": parse_copy_s, "copied_rows": copied}


def _once(data: bytes, filename: str) -> dict:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from governance.inventory.importer import inventory_import
    from governance.inventory.mapping import load_mapping

    mapping = load_mapping(format_name="omb-2025")
    out: dict = {}
    try:
        with transaction.atomic():
            out.update(_floors(data))

            def run(**kw):
                start = time.perf_counter()
                with CaptureQueriesContext(connection) as ctx:
                    report = inventory_import(
                        acting_user=None,
                        data=data,
                        filename=filename,
                        mapping=mapping,
                        keep_valid_rows=True,
                        **kw,
                    )
                return time.perf_counter() - start, len(ctx.captured_queries), report

            out["dry_run_s"], out["dry_run_queries"], _ = run(dry_run=True)
            out["first_import_s"], out["first_import_queries"], first = run()
            out["reimport_s"], out["reimport_queries"], again = run()
            out["rows_read"] = first["rows_read"]
            out["created"] = first["created"]
            out["rejected"] = first["rejected"]
            out["reimport_unchanged"] = again["unchanged"]
            raise _Rollback
    except _Rollback:
        pass
    return out


def long_header_xlsx(data: bytes, dictionary: Path) -> bytes:
    """The CSV laid out as the XLSX publication: blank first row, long question headers."""
    from openpyxl import Workbook

    headers = {"agency": "Agency", "agency_name": "Agency Name"}
    for key, spec in json.loads(dictionary.read_text(encoding="utf-8")).items():
        headers[key] = spec["excel_header"]
    rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("AI Use Cases")
    ws.append([])
    ws.append([headers.get(c, c) for c in next(rows)])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _snapshot() -> dict:
    import hashlib

    from governance.models import ControlAttestation, RiskAssessment
    from portfolio.models import Initiative

    ini = Initiative.objects.filter(source="us-federal-ai-inventory")
    values = sorted(
        ini.values_list(
            "source_key", "name", "stage", "problem", "summary", "started_on", "build_or_buy",
            "uses_pii", "uses_demographics", "risk_tier", "business_unit__code", "source_data",
        )
    )  # fmt: skip
    risks = sorted(
        RiskAssessment.objects.filter(initiative__in=ini).values_list(
            "initiative__source_key", "us_high_impact", "eu_tier", "us_justification"
        )
    )
    atts = sorted(
        ControlAttestation.objects.filter(initiative__in=ini).values_list(
            "initiative__source_key", "control__code", "status", "evidence"
        )
    )
    digest = hashlib.sha256(repr((values, risks, atts)).encode()).hexdigest()[:16]
    return {
        "initiatives": len(values),
        "risk_assessments": len(risks),
        "attestations": len(atts),
        "high_risk_tier": sum(1 for v in values if v[9] == "high"),
        "digest": digest,
    }


def publications(data: bytes, dictionary: Path) -> dict:
    from django.db import transaction

    from governance.inventory.importer import inventory_import
    from governance.inventory.mapping import load_mapping

    mapping = load_mapping(format_name="omb-2025")
    start = time.perf_counter()
    xlsx = long_header_xlsx(data, dictionary)
    out: dict = {"xlsx_build_s": round(time.perf_counter() - start, 2), "xlsx_bytes": len(xlsx)}
    for label, body, name in (("csv", data, "use_cases.csv"), ("xlsx", xlsx, "use_cases.xlsx")):
        try:
            with transaction.atomic():
                start = time.perf_counter()
                report = inventory_import(
                    acting_user=None, data=body, filename=name, mapping=mapping,
                    keep_valid_rows=True,
                )  # fmt: skip
                out[f"{label}_s"] = round(time.perf_counter() - start, 2)
                out[label] = {
                    **_snapshot(),
                    "rows_read": report["rows_read"],
                    "rejected": report["rejected"],
                    "missing_columns": report["missing_columns"],
                    "header_row": report["header_row"],
                }
                raise _Rollback
        except _Rollback:
            pass
    out["identical"] = {k: v for k, v in out["csv"].items() if k != "header_row"} == {
        k: v for k, v in out["xlsx"].items() if k != "header_row"
    }
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench inventory")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--publications", action="store_true", help="Compare the CSV and XLSX publications"
    )
    args, _ = parser.parse_known_args(argv)
    if not os.environ.get("DATABASE_URL"):
        print("Set DATABASE_URL to a scratch database.")
        return 2
    if not args.file.exists():
        print(f"No inventory at {args.file}; pass --file.")
        return 2
    _django()
    data = args.file.read_bytes()
    if args.publications:
        result = publications(data, args.file.with_name("data_dictionary.json"))
        print(json.dumps(result))
        return 0 if result["identical"] else 1
    runs = [_once(data, args.file.name) for _ in range(max(1, args.repeat))]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    result = {
        "file": str(args.file),
        "rows": runs[0]["rows_read"],
        "created": runs[0]["created"],
        "rejected": runs[0]["rejected"],
        "repeat": len(runs),
        "copy_s": round(med("copy_s"), 3),
        "parse_copy_s": round(med("parse_copy_s"), 3),
        "first_import_s": round(med("first_import_s"), 3),
        "reimport_s": round(med("reimport_s"), 3),
        "dry_run_s": round(med("dry_run_s"), 3),
        "first_import_queries": runs[0]["first_import_queries"],
        "reimport_queries": runs[0]["reimport_queries"],
    }
    result["first_import_vs_copy"] = round(result["first_import_s"] / result["copy_s"], 1)
    result["first_import_vs_parse_copy"] = round(
        result["first_import_s"] / result["parse_copy_s"], 1
    )
    result["reimport_vs_parse_copy"] = round(result["reimport_s"] / result["parse_copy_s"], 1)
    result["target_s"] = TARGET_SECONDS
    result["ok"] = result["first_import_s"] <= TARGET_SECONDS
    print(
        f"  floor COPY {result['copy_s']} s, parse+COPY {result['parse_copy_s']} s; "
        f"first import {result['first_import_s']} s "
        f"({result['first_import_vs_parse_copy']}x parse+COPY, "
        f"{result['first_import_vs_copy']}x COPY, {result['first_import_queries']} queries), "
        f"re-import {result['reimport_s']} s ({result['reimport_queries']} queries), "
        f"dry run {result['dry_run_s']} s"
    )
    print(json.dumps(result))
    return 0 if result["ok"] else 1
