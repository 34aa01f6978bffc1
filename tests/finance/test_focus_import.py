"""FOCUS import: the three providers, restatements, credits, AI tokens, formats and the
specification's errors; allocation by rules into the ledger with exact totals."""

from __future__ import annotations

import io
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.db.models import Sum

from finance.focus.models import AllocationRule, FocusImport, FocusLine
from finance.focus.services import allocation_rule_create, allocation_run, focus_import
from finance.models import ExchangeRate, SpendEntry
from tests.finance import focus_data as fd

pytestmark = pytest.mark.django_db


def run(user, data: bytes, name="bill.csv", **kw):
    return focus_import(acting_user=user, file=io.BytesIO(data), filename=name, **kw)


def ledger_total(**filters) -> D:
    return SpendEntry.objects.filter(source="focus", **filters).aggregate(s=Sum("amount"))[
        "s"
    ] or D(0)


def lines_total(column="effective_cost", **filters) -> D:
    return FocusLine.objects.filter(**filters).aggregate(s=Sum(column))["s"] or D(0)


# --- the three providers, from focus-data-toolkit ---------------------------------------


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_each_providers_file_imports_allocates_and_reimports_with_exact_totals(
    provider, tmp_path, finance, initiative_a, initiative_b
):
    path = fd.toolkit_file(tmp_path, provider, rows=300)
    result = focus_import(acting_user=finance, file=path)
    assert result.ok, result.record.errors[:5]
    assert result.record.focus_version == "1.3"
    assert FocusLine.objects.count() == 300
    assert lines_total() == fd.csv_total(path, "EffectiveCost")
    assert lines_total("billed_cost") == fd.csv_total(path, "BilledCost")
    assert not SpendEntry.objects.filter(source="focus").exists()  # no rule yet: unallocated

    # Two rules by tag (the toolkit's owner tags), priority decides overlaps.
    owner = "Owner" if provider != "gcp" else "owner"
    allocation_rule_create(
        acting_user=finance,
        name="data team",
        priority=10,
        tag_key=owner,
        tag_value="team-data",
        initiative=initiative_a,
    )
    allocation_rule_create(
        acting_user=finance,
        name="platform",
        priority=20,
        tag_key=owner,
        tag_value="team-platform",
        initiative=initiative_b,
    )
    allocation_run(acting_user=finance)

    def tagged(value):
        return lambda r: f'"{owner}":"{value}"' in r["Tags"]

    for initiative, team in ((initiative_a, "team-data"), (initiative_b, "team-platform")):
        expected = fd.csv_total(path, "EffectiveCost", tagged(team))
        assert expected != 0
        assert lines_total(initiative=initiative) == expected
        # The ledger holds the same money, rounded to the cent per posting.
        postings = SpendEntry.objects.filter(source="focus", initiative=initiative)
        assert abs(ledger_total(initiative=initiative) - expected) <= D("0.005") * postings.count()
        assert set(postings.values_list("business_unit_id", flat=True)) == {
            initiative.business_unit_id
        }

    # Re-importing the same file changes nothing.
    before = list(SpendEntry.objects.filter(source="focus").values_list("id", "amount"))
    again = focus_import(acting_user=finance, file=path)
    assert again.ok
    assert again.record.report["rows"] == {"added": 0, "removed": 0, "changed": 0, "unchanged": 300}
    assert list(SpendEntry.objects.filter(source="focus").values_list("id", "amount")) == before
    assert lines_total() == fd.csv_total(path, "EffectiveCost")

    # The provider restates the period: 20 lines gone, one cost changed.
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    rows = rows[:-20]
    rows[0]["EffectiveCost"] = str(D(rows[0]["EffectiveCost"] or 0) + D("1000.5"))
    restated = tmp_path / "restated.csv"
    with restated.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    result = focus_import(acting_user=finance, file=restated)
    assert result.ok
    assert result.record.report["rows"]["removed"] == 20
    assert result.record.report["rows"]["changed"] == 1
    assert FocusLine.objects.count() == 280
    assert lines_total() == fd.csv_total(restated, "EffectiveCost")
    for initiative, team in ((initiative_a, "team-data"), (initiative_b, "team-platform")):
        expected = fd.csv_total(restated, "EffectiveCost", tagged(team))
        assert lines_total(initiative=initiative) == expected
        postings = SpendEntry.objects.filter(source="focus", initiative=initiative)
        assert abs(ledger_total(initiative=initiative) - expected) <= D("0.005") * postings.count()


def test_a_focus_1_2_file_is_detected_and_imported(tmp_path, finance):
    path = fd.toolkit_file(tmp_path, "aws", version="1.2", rows=50)
    result = focus_import(acting_user=finance, file=path)
    assert result.ok, result.record.errors[:3]
    assert result.record.focus_version == "1.2"


# --- restatement ------------------------------------------------------------------------


def test_restating_a_period_replaces_exactly_its_rows_and_reports_the_change(finance, initiative_a):
    allocation_rule_create(
        acting_user=finance, name="acct", sub_account_id="200000000011", initiative=initiative_a
    )
    may = [
        fd.line("100.00", resource="i-1"),
        fd.line("50.00", resource="i-2"),
        fd.line("25.00", resource="i-3"),
    ]
    june = [fd.line("70.00", period="2026-06", resource="i-1")]
    other_account = [fd.line("5.00", account="999", resource="i-9")]
    assert run(finance, fd.csv_bytes(may + june + other_account)).ok
    assert ledger_total() == D("250.00")

    restated = [
        fd.line("100.00", resource="i-1"),  # unchanged
        fd.line("55.50", resource="i-2"),  # changed: +5.50
        fd.line("12.25", resource="i-4"),  # added; i-3 (25.00) removed
    ]
    result = run(finance, fd.csv_bytes(restated))
    assert result.ok
    report = result.record.report
    assert report["rows"] == {"added": 1, "removed": 1, "changed": 1, "unchanged": 1}
    assert report["money"] == {"USD": {"added": "12.25", "removed": "-25", "changed": "5.5"}}
    assert report["periods"] == [
        {"billing_account": "100000000001", "billing_period_start": "2026-05-01"}
    ]
    # May is exactly the restated file; June and the other account are untouched.
    may_lines = FocusLine.objects.filter(
        billing_account_id="100000000001", billing_period_start__month=5
    )
    assert sorted(may_lines.values_list("resource_id", "effective_cost")) == [
        ("i-1", D("100")),
        ("i-2", D("55.5")),
        ("i-4", D("12.25")),
    ]
    assert FocusLine.objects.filter(billing_period_start__month=6).count() == 1
    assert FocusLine.objects.filter(billing_account_id="999").count() == 1
    assert ledger_total() == D("100.00") + D("55.50") + D("12.25") + D("70.00") + D("5.00")


def test_identical_lines_in_a_period_are_counted_not_merged(finance):
    rows = [fd.line("1.00"), fd.line("1.00"), fd.line("1.00")]
    assert run(finance, fd.csv_bytes(rows)).ok
    result = run(finance, fd.csv_bytes(rows[:2]))
    assert result.record.report["rows"]["removed"] == 1
    assert FocusLine.objects.count() == 2


# --- credits, refunds, adjustments ---------------------------------------------------------


def test_credits_adjustments_and_corrections_stay_separate_postings(finance, initiative_a):
    allocation_rule_create(
        acting_user=finance, name="by code", tag_key="ai-initiative", initiative=None
    )
    tags = {"ai-initiative": initiative_a.code}
    rows = [
        fd.line("300.00", tags=tags),
        fd.line("-300.00", category="Credit", frequency="One-Time", tags=tags),
        fd.line("-20.00", category="Adjustment", frequency="One-Time", tags=tags),
        fd.line("-5.00", category="Usage", charge_class="Correction", tags=tags),
        fd.line("12.00", category="Tax", frequency="Recurring", tags=tags),
    ]
    assert run(finance, fd.csv_bytes(rows)).ok
    postings = {
        p.vendor: (p.amount, p.kind)
        for p in SpendEntry.objects.filter(source="focus", initiative=initiative_a)
    }
    assert postings == {
        "AWS · Usage": (D("300.00"), "operational"),
        "AWS · Credit": (D("-300.00"), "one_time"),
        "AWS · Adjustment": (D("-20.00"), "one_time"),
        "AWS · Usage (correction)": (D("-5.00"), "operational"),
        "AWS · Tax": (D("12.00"), "operational"),
    }
    assert ledger_total() == D("-13.00")


# --- AI tokens ------------------------------------------------------------------------------


def test_ai_token_lines_keep_model_token_type_and_volume(finance, initiative_a):
    rows = [
        fd.token_line("1.50", model="claude-sonnet", token_type="input", tokens="500"),
        fd.token_line("4.50", model="claude-sonnet", token_type="output", tokens="300"),
        fd.token_line("0.20", model="titan-embed", token_type="input", tokens="2000", day=4),
    ]
    assert run(finance, fd.csv_bytes(rows)).ok
    got = sorted(FocusLine.objects.values_list("ai_model", "token_type", "token_count"))
    assert got == [
        ("claude-sonnet", "input", D("500000")),
        ("claude-sonnet", "output", D("300000")),
        ("titan-embed", "input", D("2000000")),
    ]


# --- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "gzip", "parquet"])
def test_csv_gzip_and_parquet_give_the_same_lines(fmt, finance):
    rows = [fd.line("10.123456789012", tags={"team": "x"}), fd.line("-2.5", category="Credit")]
    data = {
        "csv": fd.csv_bytes,
        "gzip": fd.gzip_bytes,
        "parquet": fd.parquet_bytes,
    }[fmt](rows)
    result = run(finance, data, name=f"bill.{fmt}")
    assert result.ok, result.record.errors
    assert sorted(FocusLine.objects.values_list("effective_cost", flat=True)) == [
        D("-2.5"),
        D("10.123456789012"),
    ]
    assert FocusLine.objects.filter(tags={"team": "x"}).count() == 1


# --- errors: nothing written ------------------------------------------------------------------


def refused(user, data, name="bill.csv", **kw):
    result = run(user, data, name=name, **kw)
    assert not result.ok
    assert not FocusLine.objects.exists()
    assert not SpendEntry.objects.filter(source="focus").exists()
    assert result.record.status == FocusImport.Status.FAILED
    return result.record.errors


def test_a_file_that_is_not_focus_is_refused(finance):
    errors = refused(finance, b"date,initiative,amount\n2026-01-01,X,1\n")
    assert "not a FOCUS cost and usage file" in errors[0]["reason"]


def test_binary_garbage_is_refused_as_not_focus(finance):
    errors = refused(finance, b"\xff\xfe\x00garbage")
    assert "not a FOCUS cost and usage file" in errors[0]["reason"]


def test_an_unknown_declared_version_is_refused(finance):
    errors = refused(finance, fd.csv_bytes([fd.line("1")]), focus_version="2.7")
    assert errors[0]["reason"].startswith("Unknown FOCUS version '2.7'")


def test_a_focus_1_4_file_is_refused_as_unsupported(finance):
    data = fd.csv_bytes([fd.line("1")]).replace(b"Tags\n", b"Tags,InvoiceDetailId\n", 1)
    data = data.replace(b"\n", b",\n").replace(b"InvoiceDetailId,\n", b"InvoiceDetailId\n", 1)
    errors = refused(finance, data)
    assert "FOCUS 1.4" in errors[0]["reason"]


def test_a_missing_mandatory_column_is_named(finance):
    errors = refused(finance, fd.csv_bytes([fd.line("1")], drop=("ChargeClass", "ListCost")))
    assert errors[0]["reason"] == "Missing mandatory FOCUS 1.3 columns: ChargeClass, ListCost."


def test_bad_values_are_named_by_row_and_column(finance):
    rows = [
        fd.line("1.00"),
        fd.line("abc"),
        fd.line("1", category="Refund"),
        fd.line("1", service_category="Cloud Stuff"),
        fd.line("1", tags=None) | {"Tags": "{broken"},
        fd.line("1") | {"ChargePeriodStart": "2026-02-30T00:00:00Z"},
        fd.line("1") | {"BillingAccountId": ""},
    ]
    errors = refused(finance, fd.csv_bytes(rows))
    got = {(e["row"], e["column"]) for e in errors}
    assert got == {
        (3, "BilledCost"),
        (3, "EffectiveCost"),
        (4, "ChargeCategory"),
        (5, "ServiceCategory"),
        (6, "Tags"),
        (7, "ChargePeriodStart"),
        (8, "BillingAccountId"),
    }
    reasons = {e["column"]: e["reason"] for e in errors}
    assert reasons["ChargeCategory"].startswith("'Refund' is not a FOCUS ChargeCategory")
    assert reasons["Tags"] == "'{broken' is not a JSON object"


def test_a_currency_without_rates_is_refused(finance, settings):
    settings.CURRENCIES = ["USD", "EUR", "GBP"]
    errors = refused(finance, fd.csv_bytes([fd.line("1"), fd.line("2", currency="JPY")]))
    assert errors == [
        {
            "row": 3,
            "column": "BillingCurrency",
            "reason": "'JPY' is a currency the app holds no exchange rate for "
            "(configured: USD, EUR, GBP; a rate is needed for every currency but USD)",
        }
    ]


def test_a_configured_currency_needs_a_rate_in_force(finance):
    import datetime as dt

    ExchangeRate.objects.create(currency="EUR", valid_from=dt.date(2026, 6, 1), rate=D("1.1"))
    errors = refused(finance, fd.csv_bytes([fd.line("1", currency="EUR")]))
    assert errors[0]["column"] == "BillingCurrency"
    assert "on 2026-05-03 (rates start 2026-06-01)" in errors[0]["reason"]
    assert run(finance, fd.csv_bytes([fd.line("1", currency="EUR", period="2026-06")])).ok


def test_a_ragged_csv_row_is_named(finance):
    data = fd.csv_bytes([fd.line("1")]) + b"1,2,3\n"
    errors = refused(finance, data)
    assert "row 3" in errors[0]["reason"]


def test_only_finance_may_import(lead_a, pmo):
    for user in (lead_a, pmo):
        with pytest.raises(PermissionDenied):
            run(user, fd.csv_bytes([fd.line("1")]))


# --- the command ----------------------------------------------------------------------------


def test_the_command_imports_and_prints_the_report(tmp_path, finance, capsys):
    path = tmp_path / "bill.csv.gz"
    path.write_bytes(fd.gzip_bytes([fd.line("3.25"), fd.line("1.75", resource="i-2")]))
    call_command("import_focus", str(path), "--user", "finance")
    out = capsys.readouterr().out
    assert "2 rows: 2 added, 0 removed, 0 changed, 0 unchanged" in out
    assert lines_total() == D("5")


def test_the_command_exits_non_zero_on_a_refused_file(tmp_path, finance, capsys):
    path = tmp_path / "bill.csv"
    path.write_bytes(fd.csv_bytes([fd.line("x")]))
    with pytest.raises(SystemExit):
        call_command("import_focus", str(path), "--user", "finance")
    assert "Row 2, BilledCost: 'x' is not a decimal number" in capsys.readouterr().out
    assert not AllocationRule.objects.exists()


def test_words_postgresql_would_read_as_numbers_or_times_are_refused(finance):
    rows = [fd.line("NaN"), fd.line("1") | {"ChargePeriodStart": "now"}]
    errors = refused(finance, fd.csv_bytes(rows))
    assert {(e["row"], e["column"]) for e in errors} == {
        (2, "BilledCost"),
        (2, "EffectiveCost"),
        (3, "ChargePeriodStart"),
    }
