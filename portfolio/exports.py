"""CSV and XLSX exports of the initiative list: the same scoped, filtered, sorted queryset
the page shows, without pagination. CSV streams; XLSX uses openpyxl's write-only mode."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from io import BytesIO

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

INITIATIVE_COLUMNS = [
    ("code", "Code"),
    ("name", "Name"),
    ("business_unit__name", "Business unit"),
    ("stage", "Stage"),
    ("status", "Status"),
    ("risk_tier", "Risk tier"),
    ("coe__name", "CoE"),
    ("owner_name", "Requirements owner"),
    ("stage_entered_at", "In stage since"),
    ("started_on", "Started on"),
    ("last_activity_at", "Last activity"),
]

# Spreadsheet apps execute cells starting with these; prefix them (CSV/formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if hasattr(value, "isoformat"):
        if hasattr(value, "hour"):
            value = timezone.localtime(value) if timezone.is_aware(value) else value
            return value.strftime("%Y-%m-%d %H:%M")
        return value.isoformat()
    return value


def _rows(queryset) -> Iterator[list]:
    fields = [name for name, _ in INITIATIVE_COLUMNS]
    for row in queryset.values_list(*fields).iterator(chunk_size=2000):
        yield [_safe(v) for v in row]


class _Echo:
    def write(self, value):
        return value


def _filename(ext: str) -> str:
    return f"initiatives-{timezone.localdate().isoformat()}.{ext}"


def initiatives_csv(queryset) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def stream():
        yield "\ufeff"  # so Excel reads UTF-8
        yield writer.writerow([label for _, label in INITIATIVE_COLUMNS])
        for row in _rows(queryset):
            yield writer.writerow(row)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
    return response


def initiatives_xlsx(queryset) -> HttpResponse:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Initiatives")
    sheet.append([label for _, label in INITIATIVE_COLUMNS])
    for row in _rows(queryset):
        sheet.append(row)
    buffer = BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename("xlsx")}"'
    return response
