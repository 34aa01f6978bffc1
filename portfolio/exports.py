"""CSV and XLSX exports of the initiative list: the same scoped, filtered, sorted queryset
the page shows, without pagination. CSV streams; XLSX uses openpyxl's write-only mode.
Exports longer than ``settings.EXPORT_INLINE_ROWS`` run as a Celery job with progress and
a file to download (``portfolio.tasks.export_initiatives_task``)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO, StringIO
from types import SimpleNamespace

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.db.models.functions import TruncDate
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.utils import timezone

from portfolio import crossapp


@dataclass(frozen=True)
class Column:
    """One export column: its header, how to read it from a row, and its kind, which sets
    the XLSX number format and width (``text``, ``date``, ``datetime``, ``int``, ``money``,
    ``percent``)."""

    header: str
    kind: str = "text"
    width: int = 14


#: The columns of the initiative export, in order. Labels, not codes; dates as dates;
#: money in the reporting currency (to date, and approved budget for this fiscal year).
INITIATIVE_COLUMNS: list[tuple[str, Column]] = [
    ("code", Column("Code", width=12)),
    ("name", Column("Name", width=36)),
    ("business_unit__name", Column("Business unit", width=28)),
    ("business_unit__parent__name", Column("Parent unit", width=24)),
    ("stage", Column("Stage", width=20)),
    ("status", Column("Status", width=12)),
    ("risk_tier", Column("Risk tier", width=20)),
    ("coe__name", Column("CoE", width=24)),
    ("owner_name", Column("Requirements owner", width=22)),
    ("operator_name", Column("Operator", width=22)),
    ("executive_name", Column("Accountable executive", width=22)),
    ("stage_entered_at", Column("In stage since", "date", 14)),
    ("days_in_stage", Column("Days in stage", "int", 10)),
    ("stalled", Column("Stalled", width=9)),
    ("started_on", Column("Started on", "date", 12)),
    ("last_activity_on", Column("Last activity", "date", 12)),
    ("budget", Column("Approved budget this year", "money", 16)),
    ("spend_one_time", Column("Spend to date, one-time", "money", 16)),
    ("spend_operational", Column("Spend to date, operational", "money", 16)),
    ("spend_total", Column("Spend to date, total", "money", 16)),
    ("value", Column("Value realised to date", "money", 16)),
    ("roi", Column("ROI", "percent", 9)),
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


#: Read straight from the initiative row (the rest are labels or money, added below).
_DB_FIELDS = [
    "pk",
    "code",
    "name",
    "business_unit__name",
    "business_unit__parent__name",
    "stage",
    "status",
    "risk_tier",
    "coe__name",
    "owner_name",
    "operator_name",
    "executive_name",
    "stage_entered_on",
    "days_in_stage",
    "stage_date_known",
    "stalled",
    "started_on",
    "last_activity_on",
]


def _with_export_fields(queryset):
    """The list's queryset plus the owners, the day the stage was entered, and the days
    in stage, all computed by the database (one query for any number of rows)."""
    from portfolio.models import Assignment
    from portfolio.selectors import _person_name

    def holder(role):
        return Subquery(
            Assignment.objects.filter(initiative_id=OuterRef("pk"), role=role)
            .annotate(person=_person_name("user__"))
            .order_by("pk")
            .values("person")[:1]
        )

    if "stalled" not in queryset.query.annotations:  # the one stall rule, with days in stage
        queryset = queryset.with_stall()
    return queryset.annotate(
        operator_name=holder(Assignment.Role.OPERATOR),
        executive_name=holder(Assignment.Role.ACCOUNTABLE_EXECUTIVE),
        stage_entered_on=TruncDate("stage_entered_at", tzinfo=timezone.get_current_timezone()),
    )


def _labels(field: str) -> dict[str, str]:
    from portfolio.models import Initiative

    return dict(Initiative._meta.get_field(field).choices)


def _rows(queryset, user, *, text=False) -> Iterator[list]:
    """Export rows in ``INITIATIVE_COLUMNS`` order. Text cells pass through
    ``neutralise_formula``; dates stay dates and numbers numbers (``text=True`` renders
    them as ISO strings and plain numbers for CSV)."""
    money = crossapp.initiative_money(user) if user is not None else {}
    stages, statuses, tiers = _labels("stage"), _labels("status"), _labels("risk_tier")
    qs = _with_export_fields(queryset).values_list(*_DB_FIELDS)
    blank = dict.fromkeys(("budget", "spend_one_time", "spend_operational", "spend_total"))
    for values in qs.iterator(chunk_size=2000):
        row = dict(zip(_DB_FIELDS, values, strict=True))
        row["stage"] = stages.get(row["stage"], row["stage"])
        row["status"] = statuses.get(row["status"], row["status"])
        row["risk_tier"] = tiers.get(row["risk_tier"], row["risk_tier"])
        row["stage_entered_at"] = row.pop("stage_entered_on")
        if not row.pop("stage_date_known"):  # an import knew the stage, not its date
            row["stage_entered_at"] = row["days_in_stage"] = None
        row["stalled"] = {True: "Yes", False: "No"}.get(row["stalled"], "")
        row.update(money.get(row["pk"], blank))
        yield [_cell(row.get(key), column.kind, text=text) for key, column in INITIATIVE_COLUMNS]


def _cell(value, kind: str, *, text: bool):
    if value is None:
        return "" if text else None
    if isinstance(value, str):
        return neutralise_formula(value)
    if kind in ("money", "percent") and isinstance(value, Decimal):
        return str(value) if text else float(value)
    if text and hasattr(value, "isoformat"):
        return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "hour") else value.isoformat()
    return value


class _Echo:
    def write(self, value):
        return value


def _filename(ext: str) -> str:
    return f"initiatives-{timezone.localdate().isoformat()}.{ext}"


HEADER = [column.header for _, column in INITIATIVE_COLUMNS]

#: Excel number formats per column kind.
XLSX_FORMATS = {
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
    "int": "0",
    "money": "#,##0;[Red]-#,##0",
    "percent": "0.0%",
}


def initiatives_csv(queryset, user) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def stream():
        yield "\ufeff"  # so Excel reads UTF-8
        yield writer.writerow(_csv_header())
        for row in _rows(queryset, user, text=True):
            yield writer.writerow(row)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
    return response


def _csv_header() -> list[str]:
    currency = settings.REPORTING_CURRENCY
    return [
        f"{column.header} ({currency})" if column.kind == "money" else column.header
        for _, column in INITIATIVE_COLUMNS
    ]


class _Sheet:
    """An openpyxl write-only sheet set up for analysis: bold frozen header, auto-filter
    over every row, column widths, and a number format per column kind."""

    def __init__(self, workbook, title: str):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self._cell = WriteOnlyCell
        self.sheet = workbook.create_sheet(title)
        self.sheet.freeze_panes = "A2"
        self.letters = [get_column_letter(i) for i in range(1, len(INITIATIVE_COLUMNS) + 1)]
        for letter, (_, column) in zip(self.letters, INITIATIVE_COLUMNS, strict=True):
            self.sheet.column_dimensions[letter].width = column.width
        self.formats = [XLSX_FORMATS.get(column.kind) for _, column in INITIATIVE_COLUMNS]
        bold = Font(bold=True)
        header = []
        for text in _csv_header():
            cell = WriteOnlyCell(self.sheet, value=text)
            cell.font = bold
            header.append(cell)
        self.sheet.append(header)
        self.rows = 0

    def append(self, values: list) -> None:
        cells = []
        for value, number_format in zip(values, self.formats, strict=True):
            if number_format and value is not None:
                cell = self._cell(self.sheet, value=value)
                cell.number_format = number_format
                cells.append(cell)
            else:
                cells.append(value)
        self.sheet.append(cells)
        self.rows += 1

    def close(self) -> None:
        self.sheet.auto_filter.ref = f"A1:{self.letters[-1]}{self.rows + 1}"


def initiatives_file(
    queryset, fmt: str, *, user, progress: Callable[[int], None] | None = None
) -> tuple[str, bytes]:
    """The whole export as ``(filename, bytes)``; ``progress(rows_done)`` every 500 rows."""
    if fmt == "csv":
        out = StringIO()
        writer = csv.writer(out)
        writer.writerow(_csv_header())
        sink = writer.writerow
    else:
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = _Sheet(workbook, "Initiatives")
        sink = sheet.append
    for done, row in enumerate(_rows(queryset, user, text=fmt == "csv"), start=1):
        sink(row)
        if progress and done % 500 == 0:
            progress(done)
    if fmt == "csv":
        return _filename("csv"), ("\ufeff" + out.getvalue()).encode()
    sheet.close()
    buffer = BytesIO()
    workbook.save(buffer)
    return _filename("xlsx"), buffer.getvalue()


def initiatives_xlsx(queryset, user) -> HttpResponse:
    _, body = initiatives_file(queryset, "xlsx", user=user)
    response = HttpResponse(
        body,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename("xlsx")}"'
    return response
