from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.inventory.exporter import export_csv, export_queryset, export_xlsx
from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from portfolio.models import Initiative
from tests.factories import InitiativeFactory
from tests.governance.inventory.helpers import small_bytes, writes

pytestmark = pytest.mark.django_db


@pytest.fixture
def omb():
    return load_mapping(format_name="omb-2025")


def imported(omb):
    return inventory_import(
        acting_user=None,
        data=small_bytes(),
        filename="omb_small.csv",
        mapping=omb,
        keep_valid_rows=True,
    )


def rows_of(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize(("writer", "filename"), [(export_csv, "e.csv"), (export_xlsx, "e.xlsx")])
def test_importing_the_export_gives_back_the_same_portfolio(omb, writer, filename):
    imported(omb)
    body = writer(export_queryset(Initiative.objects.all()), omb)
    with CaptureQueriesContext(connection) as ctx:
        report = inventory_import(acting_user=None, data=body, filename=filename, mapping=omb)
    assert (report["rows_read"], report["unchanged"], report["rejected"]) == (6, 6, 0)
    assert writes(ctx.captured_queries) == []


def test_the_export_uses_the_omb_2025_column_layout_and_keeps_what_the_source_said(omb):
    imported(omb)
    rows = rows_of(export_csv(export_queryset(Initiative.objects.all()), omb))
    assert list(rows[0]) == omb.export_columns
    assert len(omb.export_columns) == 36
    summariser = next(r for r in rows if r["id"] == "DOJ-0002")
    assert summariser["use_case_name"] == "Document\nsummariser"
    assert summariser["topic_area"] == "Administrative functions"


def test_a_change_made_in_the_app_is_exported_in_the_format_spelling(omb):
    imported(omb)
    Initiative.objects.filter(source_key="DOJ/DOJ-0002").update(stage="scaled_deployment")
    rows = rows_of(export_csv(export_queryset(Initiative.objects.all()), omb))
    assert next(r for r in rows if r["id"] == "DOJ-0002")["development_stage"] == "Deployed"


def test_data_flags_changed_in_the_app_export_as_values_that_import_back(omb):
    imported(omb)
    Initiative.objects.filter(source_key="DOJ/DOJ-0002").update(uses_demographics=True)
    body = export_csv(export_queryset(Initiative.objects.all()), omb)
    assert next(r for r in rows_of(body) if r["id"] == "DOJ-0002")["demographic_features"] == (
        "['l) Other']"
    )
    report = inventory_import(acting_user=None, data=body, filename="e.csv", mapping=omb)
    assert "demographic_features" not in report["unmapped"]
    summariser = Initiative.objects.get(source_key="DOJ/DOJ-0002")
    assert summariser.uses_demographics is True


def test_initiatives_created_in_the_app_export_with_their_unit_and_code(omb, initiative_a_child):
    rows = rows_of(export_csv(export_queryset(Initiative.objects.all()), omb))
    assert rows == [
        {
            **dict.fromkeys(omb.export_columns, ""),
            "agency": "RETAIL",
            "agency_name": "Retail Banking",
            "agency_bureau": "Cards",
            "id": "AI-A-2",
            "use_case_name": "Card fraud scoring",
            "development_stage": "Pilot",
            "benefits": "Summarise claims with an LLM.",
            "contracting_usage": "",
        }
    ]


def test_the_xlsx_export_writes_text_never_formulas(omb, unit_a):
    InitiativeFactory(code="AI-F", name='=HYPERLINK("http://x.test","y")', business_unit=unit_a)
    body = export_xlsx(export_queryset(Initiative.objects.all()), omb)
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(body)).active
    cell = ws.cell(row=2, column=omb.export_columns.index("use_case_name") + 1)
    assert cell.value == '\'=HYPERLINK("http://x.test","y")' and cell.data_type == "s"


def test_the_csv_export_neutralises_formulas_in_every_text_cell(omb, unit_a):
    InitiativeFactory(
        code="AI-F",
        name='=HYPERLINK("http://x.test","y")',
        summary="+1 more",
        problem="@SUM(A1)",
        business_unit=unit_a,
    )
    row = rows_of(export_csv(export_queryset(Initiative.objects.all()), omb))[0]
    assert row["use_case_name"] == '\'=HYPERLINK("http://x.test","y")'
    assert row["benefits"] == "'+1 more"
    assert row["problem_solved"] == "'@SUM(A1)"


def test_a_neutralised_export_imports_back_as_it_was(omb, unit_a):
    InitiativeFactory(code="AI-F", name="=1+1", business_unit=unit_a)
    body = export_csv(export_queryset(Initiative.objects.all()), omb)
    report = inventory_import(acting_user=None, data=body, filename="e.csv", mapping=omb)
    assert report["created"] == 1
    assert Initiative.objects.get(source=omb.source).name == "=1+1"


def test_unit_lead_b_exports_only_unit_b(client, lead_b, initiative_a, initiative_b):
    client.force_login(lead_b)
    body = client.get(reverse("governance:inventory_export")).content
    codes = {r["id"] for r in rows_of(body)}
    assert codes == {"AI-B-1"}


def test_unit_lead_a_export_includes_child_units_but_never_unit_b(
    client, lead_a, initiative_a, initiative_a_child, initiative_b
):
    client.force_login(lead_a)
    body = client.get(reverse("governance:inventory_export"), {"as": "xlsx"}).content
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(body)).active
    ids = {row[2] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert ids == {"AI-A-1", "AI-A-2"}


def test_the_export_is_filtered_like_the_list(client, pmo, initiative_a, initiative_b):
    client.force_login(pmo)
    body = client.get(
        reverse("governance:inventory_export"), {"unit": initiative_b.business_unit_id}
    ).content
    assert {r["id"] for r in rows_of(body)} == {"AI-B-1"}


def test_export_needs_a_signed_in_user(client):
    response = client.get(reverse("governance:inventory_export"))
    assert response.status_code == 302


def test_export_query_count_is_the_same_for_5_and_50_rows(client, lead_a, unit_a):
    client.force_login(lead_a)
    counts = []
    for batch in (5, 45):
        InitiativeFactory.create_batch(batch, business_unit=unit_a)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("governance:inventory_export"))
        assert len(rows_of(response.content)) == sum((5, 45)[: len(counts) + 1])
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_a_risk_assessment_changed_in_the_app_changes_the_exported_high_impact_answer(omb, pmo):
    from governance.services import risk_assessment_record

    imported(omb)
    triage = Initiative.objects.get(name="Case triage")
    row = next(
        r
        for r in rows_of(export_csv(export_queryset(Initiative.objects.all()), omb))
        if r["id"] == "DOJ-0001"
    )
    assert row["is_high_impact"] == "High-impact"
    risk_assessment_record(
        acting_user=pmo,
        initiative=triage,
        eu_tier="minimal",
        us_high_impact=False,
        us_justification="Re-assessed: advisory only.",
    )
    row = next(
        r
        for r in rows_of(export_csv(export_queryset(Initiative.objects.all()), omb))
        if r["id"] == "DOJ-0001"
    )
    assert row["is_high_impact"] == "Not High-impact"
    assert row["HI_justification"] == "Re-assessed: advisory only."


def test_a_never_imported_initiative_exports_its_current_assessment_and_attestations(
    omb, pmo, unit_a
):
    from governance.models import Control, ControlAttestation
    from governance.services import risk_assessment_record

    ini = InitiativeFactory(code="AI-N", name="Never imported", business_unit=unit_a)
    risk_assessment_record(
        acting_user=pmo, initiative=ini, eu_tier="high", us_high_impact=True,
        us_justification="Rights-impacting.",
    )  # fmt: skip
    control = Control.objects.create(code="OMB-MP-1", name="Pre-deployment testing")
    ControlAttestation.objects.create(
        initiative=ini,
        business_unit=unit_a,
        control=control,
        status="attested",
        evidence="Test plan",
    )
    row = rows_of(export_csv(export_queryset(Initiative.objects.all()), omb))[0]
    assert (row["id"], row["is_high_impact"], row["hi_testing_conducted"]) == (
        "AI-N",
        "High-impact",
        "Yes",
    )


def test_the_export_can_be_written_in_another_mappings_layout(unit_a, unit_a_child):
    from tests.governance.inventory.helpers import FILES

    mapping = load_mapping(
        text=(FILES / "custom_mapping.toml").read_text(), filename="custom_mapping.toml"
    )
    InitiativeFactory(
        code="AI-X", name="Fraud", business_unit=unit_a_child, stage="initial_production"
    )
    rows = rows_of(export_csv(export_queryset(Initiative.objects.all()), mapping))
    assert list(rows[0]) == [
        "Division",
        "Team",
        "Ref",
        "Project title",
        "Phase",
        "Go-live",
        "Sourcing",
        "Personal data",
    ]
    assert (rows[0]["Division"], rows[0]["Team"], rows[0]["Ref"]) == (
        "RETAIL",
        unit_a_child.name,
        "AI-X",
    )
    assert rows[0]["Phase"] == "Production"


def test_the_export_page_writes_an_uploaded_mappings_layout_scoped_to_the_user(
    client, lead_a, unit_a, initiative_a, initiative_b
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.governance.inventory.helpers import FILES

    client.force_login(lead_a)
    mapping = (FILES / "custom_mapping.toml").read_bytes()
    response = client.post(
        reverse("governance:inventory_export"),
        {"mapping": SimpleUploadedFile("m.toml", mapping)},
    )
    assert response.status_code == 200
    rows = rows_of(response.content)
    assert list(rows[0])[:3] == ["Division", "Team", "Ref"]
    assert {r["Ref"] for r in rows} == {initiative_a.code}
    bad = client.post(
        reverse("governance:inventory_export"),
        {"mapping": SimpleUploadedFile("m.toml", b'header_scan_rows = "x"\n' + mapping)},
    )
    assert bad.status_code == 400 and b"header_scan_rows: expected a whole number" in bad.content
