from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import Workbook

FILES = Path(__file__).with_name("files")


def small_bytes() -> bytes:
    return (FILES / "omb_small.csv").read_bytes()


def rewrite_csv(data: bytes, change) -> bytes:
    """The small file with ``change(row)`` applied to every row (a "newer inventory")."""
    text = data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        change(row)
        writer.writerow(row)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def csv_to_xlsx(data: bytes, *, title: str | None = None) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    wb = Workbook()
    ws = wb.active
    if title:
        ws.append([title])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
