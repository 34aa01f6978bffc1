"""Spend import: the file pipeline, the API upsert, the command and the Celery task."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal as D

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from finance.models import ImportBatch, SpendEntry
from finance.services import spend_entries_upsert, spend_import

pytestmark = pytest.mark.django_db

HEADER = "date,initiative,kind,category,amount,currency,vendor,reference\n"


def csv_file(*lines: str) -> io.BytesIO:
    return io.BytesIO((HEADER + "".join(line + "\n" for line in lines)).encode())


def good_rows():
    return [
        "2026-01-15,AI-A-1,one_time,compute,1000.00,USD,Cloud Co,P-1",
        "2026-02-15,AI-A-1,operational,vendor,250.50,EUR,Vendor AG,P-2",
        "2026-03-15,AI-B-1,Operational,Personnel,-40,gbp,,P-3",
    ]


def run(user, f, **kwargs):
    kwargs.setdefault("source", "erp")
    return spend_import(acting_user=user, file=f, filename="postings.csv", **kwargs)


def errors_of(result):
    return [(e["row"], e["column"]) for e in result.batch.errors]


def test_import_happy_path_writes_every_row_and_records_the_batch(
    finance, initiative_a, initiative_b
):
    result = run(finance, csv_file(*good_rows()))
    assert result.ok
    batch = result.batch
    assert (batch.status, batch.created_count, batch.updated_count, batch.unchanged_count) == (
        ImportBatch.Status.SUCCEEDED,
        3,
        0,
        0,
    )
    entries = {e.reference: e for e in SpendEntry.objects.all()}
    assert entries["P-2"].amount == D("250.50") and entries["P-2"].currency == "EUR"
    p3 = entries["P-3"]
    assert (p3.kind, p3.category, p3.currency, p3.amount) == (
        "operational",
        "personnel",
        "GBP",
        D("-40.00"),
    )
    assert p3.business_unit_id == initiative_b.business_unit_id
    assert p3.import_batch_id == batch.pk and p3.entered_by == finance
    assert entries["P-1"].posted_on == dt.date(2026, 1, 15)


@pytest.mark.parametrize(
    ("line", "column", "reason"),
    [
        ("2026-01-15,NOPE,one_time,compute,1,USD,,R", "initiative", "unknown initiative 'NOPE'"),
        ("2026-01-15,AI-A-1,capex,compute,1,USD,,R", "kind", "unknown kind 'capex'"),
        ("2026-01-15,AI-A-1,one_time,snacks,1,USD,,R", "category", "unknown category 'snacks'"),
        ("15/01/2026,AI-A-1,one_time,compute,1,USD,,R", "date", "is not a date"),
        ("2026-02-30,AI-A-1,one_time,compute,1,USD,,R", "date", "is not a date"),
        ("2026-01-15,AI-A-1,one_time,compute,12x,USD,,R", "amount", "is not an amount"),
        ("2026-01-15,AI-A-1,one_time,compute,1.234,USD,,R", "amount", "is not an amount"),
        ("2026-01-15,AI-A-1,one_time,compute,0,USD,,R", "amount", "must not be zero"),
        ("2026-01-15,AI-A-1,one_time,compute,1,JPY,,R", "currency", "not a configured currency"),
        ("2026-01-15,AI-A-1,one_time,compute,1,USD,,", "reference", "is required"),
        (",AI-A-1,one_time,compute,1,USD,,R", "date", "is required"),
    ],
)
def test_every_validation_rule_names_row_column_and_reason(
    finance, initiative_a, line, column, reason
):
    result = run(finance, csv_file("2026-01-01,AI-A-1,one_time,compute,5,USD,,OK-1", line))
    assert not result.ok
    assert result.batch.status == ImportBatch.Status.FAILED
    (error,) = result.batch.errors
    assert (error["row"], error["column"]) == (3, column)
    assert reason in error["reason"]
    assert not SpendEntry.objects.exists()  # all or nothing: the good row is not written


# fmt: off
DATES = [
    "2026-01-01", "2026-01-28", "2026-02-28", "2024-02-29", "2026-02-29", "2026-04-30",
    "2026-04-31", "2026-12-31", "2026-13-01", "2026-00-10", "2026-01-00", "2026-01-32",
    "1900-01-01", "1899-12-31", "2026-1-01", "2026/01/01", "20260101", "2026-01-1a",
    "+026-01-01", "2026--1-01", "\uff12\uff10\uff12\uff16-01-01", "9999-12-31", " 2026-03-05 ",
]
AMOUNTS = [
    "1", "12.5", "12.50", "-40", "+7.25", "999999999999.99", "1000000000000", "1.234",
    ".5", "5.", "-.5", "1e3", "NaN", "Infinity", "1,000", "12x", "0.00", "-0", "00012.30",
    "\uff11\uff12", " 42.10 ", "1 000", "--1",
]
# fmt: on


def _date_ok(text: str) -> bool:
    """The rule, stated in Python: YYYY-MM-DD in ASCII digits, a real day, from 1900, and
    at most a year ahead (issue 13: a posting dated 9999-12-31 cannot be true)."""
    text = text.strip()
    if not (len(text) == 10 and text[4] == text[7] == "-"):
        return False
    digits = text[:4] + text[5:7] + text[8:]
    if not all(c in "0123456789" for c in digits):
        return False
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return False
    return day.year >= 1900 and day <= dt.date.today() + dt.timedelta(days=366)


def _amount_ok(text: str) -> bool:
    """Digits (ASCII, 1-12 of them), an optional sign and up to 2 decimals; not zero."""
    import re

    text = text.strip()
    return bool(re.fullmatch(r"[+-]?[0-9]{1,12}(\.[0-9]{1,2})?", text)) and D(text) != 0


def test_date_and_amount_checks_agree_with_the_rules_for_tricky_values(finance, initiative_a):
    """The SQL checks dates and amounts with a fast tier and a strict one: whichever
    accepts a value, the outcome must be exactly the stated rule's."""
    lines = [f'"{d}",AI-A-1,one_time,compute,5,USD,,D-{i}' for i, d in enumerate(DATES)]
    lines += [f'2026-01-15,AI-A-1,one_time,compute,"{a}",USD,,A-{i}' for i, a in enumerate(AMOUNTS)]
    result = run(finance, csv_file(*lines))
    rejected = {row for row, _column in errors_of(result)}
    for i, value in enumerate(DATES):
        assert (i + 2 not in rejected) == _date_ok(value), value
    for i, value in enumerate(AMOUNTS):
        assert (len(DATES) + i + 2 not in rejected) == _amount_ok(value), value
    assert not SpendEntry.objects.exists()


def test_reference_seen_twice_in_the_file_is_an_error_naming_the_first_row(finance, initiative_a):
    result = run(
        finance,
        csv_file(
            "2026-01-01,AI-A-1,one_time,compute,5,USD,,DUP",
            "2026-01-02,AI-A-1,one_time,compute,6,USD,,OTHER",
            "2026-01-03,AI-A-1,one_time,compute,7,USD,,DUP",
        ),
    )
    (error,) = result.batch.errors
    assert (error["row"], error["column"]) == (4, "reference")
    assert "first on row 2" in error["reason"]


def test_all_or_nothing_reports_every_error_and_writes_nothing(finance, initiative_a):
    result = run(
        finance,
        csv_file(
            "2026-01-01,AI-A-1,one_time,compute,5,USD,,A",
            "bad,AI-A-1,one_time,compute,x,USD,,B",
            "2026-01-03,AI-Z,one_time,compute,7,XXX,,C",
        ),
    )
    assert errors_of(result) == [
        (3, "date"),
        (3, "amount"),
        (4, "initiative"),
        (4, "currency"),
    ]
    assert result.batch.rejected_count == 2
    assert not SpendEntry.objects.exists()


def test_keep_valid_rows_writes_the_good_ones_and_lists_the_rejected(finance, initiative_a):
    result = run(
        finance,
        csv_file(
            "2026-01-01,AI-A-1,one_time,compute,5,USD,,A",
            "bad,AI-A-1,one_time,compute,5,USD,,B",
        ),
        keep_valid_rows=True,
    )
    assert result.batch.status == ImportBatch.Status.SUCCEEDED
    assert (result.batch.created_count, result.batch.rejected_count) == (1, 1)
    assert list(SpendEntry.objects.values_list("reference", flat=True)) == ["A"]
    assert errors_of(result) == [(3, "date")]


def test_reimporting_the_same_file_changes_nothing(finance, initiative_a, initiative_b):
    run(finance, csv_file(*good_rows()))
    before = list(SpendEntry.objects.order_by("pk").values("pk", "updated_at"))
    second = run(finance, csv_file(*good_rows()))
    assert (
        second.batch.created_count,
        second.batch.updated_count,
        second.batch.unchanged_count,
    ) == (0, 0, 3)
    assert list(SpendEntry.objects.order_by("pk").values("pk", "updated_at")) == before


def test_the_same_reference_from_another_source_is_another_posting(finance, initiative_a):
    line = "2026-01-01,AI-A-1,one_time,compute,5,USD,,A"
    run(finance, csv_file(line))
    run(finance, csv_file(line), source="sap")
    assert SpendEntry.objects.count() == 2


def test_changed_amount_updates_the_row_and_the_audit_trail_shows_old_and_new(
    finance, initiative_a
):
    run(finance, csv_file("2026-01-01,AI-A-1,one_time,compute,100.00,USD,,A"))
    result = run(finance, csv_file("2026-01-01,AI-A-1,one_time,compute,150.00,USD,,A"))
    assert (result.batch.created_count, result.batch.updated_count) == (0, 1)
    entry = SpendEntry.objects.get()
    assert entry.amount == D("150.00")
    Event = apps.get_model("finance", "SpendEntryEvent")
    events = list(Event.objects.filter(pgh_obj_id=entry.pk).order_by("pgh_id"))
    assert [(e.pgh_label, e.amount) for e in events] == [
        ("insert", D("100.00")),
        ("update", D("150.00")),
    ]
    assert events[1].pgh_context.metadata["user"] == finance.pk


def test_dry_run_counts_but_writes_nothing(finance, initiative_a):
    run(finance, csv_file("2026-01-01,AI-A-1,one_time,compute,100.00,USD,,A"))
    result = run(
        finance,
        csv_file(
            "2026-01-01,AI-A-1,one_time,compute,120.00,USD,,A",
            "2026-01-01,AI-A-1,one_time,compute,120.00,USD,,B",
        ),
        dry_run=True,
    )
    assert (result.batch.created_count, result.batch.updated_count) == (1, 1)
    assert SpendEntry.objects.get().amount == D("100.00")


def test_unit_lead_may_import_only_their_units_initiatives(lead_a, initiative_a, initiative_b):
    result = run(
        lead_a,
        csv_file(
            "2026-01-01,AI-A-1,one_time,compute,5,USD,,A",
            "2026-01-01,AI-B-1,one_time,compute,5,USD,,B",
        ),
    )
    assert errors_of(result) == [(3, "initiative")]
    # The message does not reveal whether AI-B-1 exists.
    assert "or not one whose spend you may change" in result.batch.errors[0]["reason"]
    assert not SpendEntry.objects.exists()


def test_auditor_and_viewer_may_not_import(auditor, viewer_a, initiative_a):
    for user in (auditor, viewer_a):
        with pytest.raises(PermissionDenied):
            run(user, csv_file("2026-01-01,AI-A-1,one_time,compute,5,USD,,A"))


def test_missing_column_is_a_file_error(finance):
    result = run(finance, io.BytesIO(b"date,initiative,amount\n2026-01-01,AI-A-1,5\n"))
    assert result.batch.status == ImportBatch.Status.FAILED
    assert "missing: kind, category, currency, reference" in result.batch.errors[0]["reason"]


def test_broken_csv_line_is_reported_with_its_line(finance, initiative_a):
    result = run(
        finance,
        csv_file(
            "2026-01-01,AI-A-1,one_time,compute,5,USD,,A",
            "2026-01-01,AI-A-1,one_time,compute,5,USD,,B,extra",
        ),
    )
    assert "at row 3: extra data after last expected column" in result.batch.errors[0]["reason"]


def test_columns_in_any_order_and_extra_columns_are_accepted(finance, initiative_a):
    data = (
        "reference,amount,currency,date,initiative,kind,category,vendor,note\n"
        "X-1,99.5,USD,2026-05-01,AI-A-1,operational,data,Acme,ignored\n"
    )
    result = run(finance, io.BytesIO(data.encode("utf-8-sig")))
    assert result.ok
    assert SpendEntry.objects.get().amount == D("99.50")


def test_xlsx_import_reads_typed_cells(finance, initiative_a, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.strip().split(","))
    ws.append([dt.datetime(2026, 4, 1), "AI-A-1", "one_time", "data", 1234.5, "USD", "V", "X-1"])
    ws.append([])
    ws.append(["2026-04-02", "AI-A-1", "one_time", "data", "oops", "USD", "V", "X-2"])
    path = tmp_path / "postings.xlsx"
    wb.save(path)
    result = spend_import(acting_user=finance, file=path, source="erp", keep_valid_rows=True)
    assert SpendEntry.objects.get().amount == D("1234.50")
    assert errors_of(result) == [(4, "amount")]


def test_api_upsert_shares_the_rules_and_reports_rows(finance, initiative_a):
    rows = [
        {
            "initiative": "AI-A-1",
            "posted_on": dt.date(2026, 1, 1),
            "kind": "one_time",
            "category": "compute",
            "amount": D("10"),
            "currency": "USD",
            "vendor": "",
            "reference": "API-1",
        },
        {
            "initiative": initiative_a.pk,
            "posted_on": "2026-01-02",
            "kind": "operational",
            "category": "data",
            "amount": "20.00",
            "currency": "EUR",
            "reference": "API-2",
        },
    ]
    assert spend_entries_upsert(acting_user=finance, source="api", rows=rows) == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
    }
    rows[1]["amount"] = "25.00"
    assert spend_entries_upsert(acting_user=finance, source="api", rows=rows) == {
        "created": 0,
        "updated": 1,
        "unchanged": 1,
    }
    bad = [dict(rows[0], reference="API-3"), dict(rows[0], currency="JPY", reference="API-4")]
    with pytest.raises(ValidationError) as exc:
        spend_entries_upsert(acting_user=finance, source="api", rows=bad)
    assert exc.value.messages == [
        "Row 2, currency: 'JPY' is not a configured currency (USD, EUR, GBP)"
    ]
    assert not SpendEntry.objects.filter(reference="API-3").exists()


def _big_file(n: int) -> io.BytesIO:
    lines = (
        f"2026-{1 + i % 12:02d}-{1 + i % 28:02d},AI-A-{1 + i % 2},operational,compute,"
        f"{i + 1}.25,USD,Cloud,R-{i}"
        for i in range(n)
    )
    return io.BytesIO((HEADER + "\n".join(lines) + "\n").encode())


@pytest.mark.slow
def test_query_count_does_not_grow_with_rows(finance, initiative_a, initiative_a_child):
    def count(n):
        with CaptureQueriesContext(connection) as ctx:
            result = run(finance, _big_file(n), source=f"erp-{n}")
        assert result.batch.created_count == n
        return len(ctx.captured_queries)

    count(10)  # warm the user's permission cache, which both runs then share
    assert count(1_000) == count(10_000)
    assert SpendEntry.objects.count() == 11_010


def test_import_spend_command_prints_the_report(finance, initiative_a, tmp_path, capsys):
    path = tmp_path / "postings.csv"
    path.write_text(HEADER + "2026-01-01,AI-A-1,one_time,compute,5,USD,,A\nbad,AI-A-1,,,,,,\n")
    with pytest.raises(SystemExit):
        call_command("import_spend", str(path), "--source", "erp", "--user", "finance")
    out = capsys.readouterr().out
    assert "Row 3, date" in out and "nothing was written" in out.lower()
    call_command(
        "import_spend", str(path), "--source", "erp", "--user", "finance", "--keep-valid-rows"
    )
    assert "created 1" in capsys.readouterr().out
    assert SpendEntry.objects.count() == 1
