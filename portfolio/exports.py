"""CSV and XLSX exports of the initiative list: the same scoped, filtered, sorted queryset
the page shows, without pagination. CSV streams; XLSX uses openpyxl's write-only mode.
Exports longer than ``settings.EXPORT_INLINE_ROWS`` run as a Celery job with progress and
a file to download (``portfolio.tasks.export_initiatives_task``)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from io import BytesIO, StringIO
from types import SimpleNamespace

from django.http import HttpResponse, QueryDict, StreamingHttpResponse
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
    ("last_activity_on", "Last activity"),
    ("days_in_stage", "Days in stage"),
    ("stalled", "Stalled"),
]

# Spreadsheet apps execute cells starting with these; prefix them (CSV/formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    """``value`` made safe for a spreadsheet cell: text that a spreadsheet would run as a
    formula (``=``, ``+``, ``-``, ``@``, tab, carriage return) gets a leading apostrophe.
    Every CSV and XLSX the app writes passes its text cells through this."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _safe(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise_formula(value)
    if hasattr(value, "isoformat"):
        if hasattr(value, "hour"):
            value = timezone.localtime(value) if timezone.is_aware(value) else value
            return value.strftime("%Y-%m-%d %H:%M")
        return value.isoformat()
    return value


def filtered_initiatives(request):
    """The initiative list exactly as the page shows it to ``request.user`` for the
    filters and sort in ``request.GET``: ``(filterset, queryset)``."""
    from portfolio import selectors
    from portfolio.filters import InitiativeFilter
    from portfolio.views.listing import sort_queryset

    qs = selectors.initiatives_for_list(request.user)
    f = InitiativeFilter(request.GET, queryset=qs, request=request)
    return f, sort_queryset(f.qs, request, selectors.INITIATIVE_SORTS, default="code")


def as_request(user, query: str):
    """What the list's filter and sort read from a request, for a task replaying it."""
    return SimpleNamespace(user=user, GET=QueryDict(query))


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


def initiatives_file(
    queryset, fmt: str, *, progress: Callable[[int], None] | None = None
) -> tuple[str, bytes]:
    """The whole export as ``(filename, bytes)``; ``progress(rows_done)`` every 500 rows."""
    header = [label for _, label in INITIATIVE_COLUMNS]
    if fmt == "csv":
        out = StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        sink = writer.writerow
    else:
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Initiatives")
        sheet.append(header)
        sink = sheet.append
    for done, row in enumerate(_rows(queryset), start=1):
        sink(row)
        if progress and done % 500 == 0:
            progress(done)
    if fmt == "csv":
        return _filename("csv"), ("\ufeff" + out.getvalue()).encode()
    buffer = BytesIO()
    workbook.save(buffer)
    return _filename("xlsx"), buffer.getvalue()


def initiatives_xlsx(queryset) -> HttpResponse:
    _, body = initiatives_file(queryset, "xlsx")
    response = HttpResponse(
        body,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename("xlsx")}"'
    return response
