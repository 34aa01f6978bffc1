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


OMB_COLUMNS = [
    "agency", "agency_name", "id", "use_case_name", "agency_bureau", "contact_email",
    "is_withheld", "development_stage", "is_high_impact", "HI_justification", "topic_area",
    "classification", "problem_solved", "benefits", "system_outputs", "operational_date",
    "contracting_usage", "vendor_name", "have_ato", "system_name_ato", "data_description",
    "link_to_data", "has_pii", "pia_url", "demographic_features", "has_custom_code", "code_url",
    "hi_testing_conducted", "hi_assessment_completed", "hi_potential_impacts",
    "hi_independent_review", "hi_ongoing_monitoring", "hi_training_established",
    "hi_failsafe_presence", "hi_appeal_process", "hi_public_consultation",
]  # fmt: skip


def csv_bytes(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    """A CSV of ``rows`` with ``columns`` (default: the 36 OMB 2025 columns); a column
    left out of ``columns`` is absent from the file, a key left out of a row is blank."""
    columns = columns or OMB_COLUMNS
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue().encode("utf-8")


def without(columns: list[str], *dropped: str) -> list[str]:
    return [c for c in columns if c not in dropped]


def long_header_xlsx(data: bytes) -> bytes:
    """The OMB CSV as the XLSX publication lays it out: a blank first row, then the long
    question texts of OMB's data dictionary (``files/omb_2025_excel_headers.json``, from
    ``../shared/data/us-federal-ai-inventory-2025/data_dictionary.json``) as headers."""
    import json

    headers = json.loads((FILES / "omb_2025_excel_headers.json").read_text(encoding="utf-8"))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("AI Use Cases")
    ws.append([])
    ws.append([headers.get(c, c) for c in rows[0]])
    for row in rows[1:]:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
