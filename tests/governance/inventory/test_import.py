from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from governance.models import Control, ControlAttestation, RiskAssessment
from people.models import BusinessUnit
from portfolio.models import Initiative, StageTransition
from tests.governance.inventory.helpers import (
    FILES,
    csv_to_xlsx,
    rewrite_csv,
    small_bytes,
    writes,
)

pytestmark = pytest.mark.django_db

SOURCE = "us-federal-ai-inventory"


@pytest.fixture
def omb():
    return load_mapping(format_name="omb-2025")


def run(omb, data=None, **kw):
    kw.setdefault("keep_valid_rows", True)
    return inventory_import(
        acting_user=kw.pop("user", None),
        data=data if data is not None else small_bytes(),
        filename=kw.pop("filename", "omb_small.csv"),
        mapping=omb,
        **kw,
    )


def by_name(name):
    return Initiative.objects.get(source=SOURCE, name=name)


def test_every_row_is_accounted_for(omb):
    report = run(omb)
    assert report["rows_read"] == 10
    assert (report["created"], report["updated"], report["unchanged"], report["rejected"]) == (
        6,
        0,
        0,
        4,
    )
    assert report["rows_read"] == sum(
        report[k] for k in ("created", "updated", "unchanged", "rejected")
    )
    assert report["blank_lines_skipped"] == 1


def test_rejected_rows_are_named_with_row_number_and_reason(omb):
    rejections = {r["row"]: r["reason"] for r in run(omb)["rejections"]}
    assert set(rejections) == {4, 6, 10, 11}
    assert "id 'DOJ-0001', like row 2" in rejections[4]
    assert "same unit and name 'Chatbot' as row 5" in rejections[6]
    assert "use_case_name is blank" in rejections[10]
    assert "use_case_name is blank" in rejections[11]  # "none" is a placeholder


def test_duplicate_ids_are_not_merged_the_first_row_wins(omb):
    run(omb)
    assert Initiative.objects.filter(source_key="DOJ/DOJ-0001").get().name == "Case triage"
    assert not Initiative.objects.filter(name="Case triage (copy)").exists()


def test_blank_and_placeholder_ids_get_a_key_from_unit_and_normalised_name(omb):
    run(omb)
    chatbots = Initiative.objects.filter(name="Chatbot").select_related("business_unit")
    assert sorted(c.business_unit.name for c in chatbots) == ["CDC", "NIH"]
    assert all(c.source_key.startswith("HHS/~") for c in chatbots)
    assert by_name("Grant reviewer assistant").source_key.startswith("HHS/~")


def test_agencies_become_top_level_units_and_bureaus_children_once_each(omb):
    run(omb)
    tops = BusinessUnit.objects.filter(parent__isnull=True)
    assert set(tops.values_list("code", flat=True)) == {"DOJ", "HHS", "DOI"}
    assert tops.get(code="HHS").name == "Department of Health and Human Services"
    fbi = BusinessUnit.objects.filter(parent__code="DOJ")
    assert fbi.count() == 1  # two spellings of one bureau
    assert (
        by_name("Case triage").business_unit_id == by_name("Document summariser").business_unit_id
    )
    assert by_name("Grant reviewer assistant").business_unit.code == "HHS"  # blank bureau


def test_stages_follow_the_table_and_blank_stays_unknown(omb):
    report = run(omb)
    assert by_name("Case triage").stage == "initial_production"
    assert by_name("Document summariser").stage == "proof_of_concept"
    assert Initiative.objects.get(name="Chatbot", business_unit__name="CDC").stage == "unknown"
    retired = by_name("Grant reviewer assistant")
    assert (retired.stage, retired.status) == ("retired", "closed")
    wildfire = by_name("Wildfire detection")
    assert wildfire.stage == "unknown"
    assert report["unmapped"]["development_stage"] == {"Operational": 1}


def test_dates_are_parsed_where_unambiguous_and_reported_where_not(omb):
    report = run(omb)
    assert by_name("Case triage").started_on == dt.date(2024, 10, 1)
    assert by_name("Document summariser").started_on == dt.date(2024, 1, 1)
    assert by_name("Wildfire detection").started_on == dt.date(2025, 9, 17)
    assert by_name("Grant reviewer assistant").started_on is None
    assert report["unmapped"]["operational_date"] == {"2020": 1}


def test_build_or_buy_and_data_flags_are_mapped(omb):
    run(omb)
    triage = by_name("Case triage")
    assert (triage.build_or_buy, triage.uses_pii, triage.uses_demographics) == ("buy", True, True)
    summariser = by_name("Document summariser")
    assert (summariser.build_or_buy, summariser.uses_pii, summariser.uses_demographics) == (
        "build",
        False,
        False,
    )
    assert by_name("Wildfire detection").build_or_buy == "partner"
    chatbot = Initiative.objects.get(name="Chatbot", business_unit__name="CDC")
    assert (chatbot.build_or_buy, chatbot.uses_pii, chatbot.uses_demographics) == (
        "unknown",
        None,
        None,
    )


def test_raw_values_are_kept_next_to_the_parsed_ones(omb):
    run(omb)
    data = by_name("Document summariser").source_data
    assert data["raw"]["use_case_name"] == "Document\nsummariser"
    assert data["raw"]["development_stage"] == "Pilot"
    assert data["parsed"]["stage"] == "proof_of_concept"
    assert data["parsed"]["topic"] == "Administrative Functions"
    assert by_name("Case triage").source_data["parsed"]["topic"] == "Administrative Functions"
    grant = by_name("Grant reviewer assistant").source_data
    assert grant["raw"]["vendor_name"] == "N/a" and grant["parsed"]["vendor"] is None


def test_high_impact_and_minimum_practices_become_risk_assessment_and_attestations(omb):
    run(omb)
    assert Control.objects.filter(code__startswith="OMB-MP-").count() == 9
    triage = by_name("Case triage")
    ra = RiskAssessment.objects.get(initiative=triage)
    assert ra.us_high_impact is True and ra.eu_tier == "high"  # the tier follows the answer
    assert triage.risk_tier == "high"
    assert ra.business_unit_id == triage.business_unit_id
    statuses = dict(
        ControlAttestation.objects.filter(initiative=triage).values_list("control__code", "status")
    )
    assert statuses == {
        "OMB-MP-1": "attested",
        "OMB-MP-2": "in_progress",
        "OMB-MP-3": "attested",
        "OMB-MP-7": "not_applicable",
        "OMB-MP-8": "in_progress",
        "OMB-MP-9": "attested",
    }
    impacts = ControlAttestation.objects.get(initiative=triage, control__code="OMB-MP-3")
    assert impacts.evidence.startswith("Possible bias against")
    wildfire = RiskAssessment.objects.get(initiative=by_name("Wildfire detection"))
    assert wildfire.us_high_impact is False and wildfire.us_justification == "No rights impact."
    assert not RiskAssessment.objects.filter(
        initiative=by_name("Grant reviewer assistant")
    ).exists()


def test_reimporting_the_same_file_writes_nothing(omb):
    run(omb)
    with CaptureQueriesContext(connection) as ctx:
        report = run(omb)
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 6)
    assert writes(ctx.captured_queries) == []


def test_dry_run_reports_exactly_what_the_real_run_does_and_writes_nothing(omb):
    dry = run(omb, dry_run=True)
    assert Initiative.objects.count() == 0 and BusinessUnit.objects.count() == 0
    real = run(omb)
    differ = {"dry_run", "applied", "message"}
    assert {k: v for k, v in dry.items() if k not in differ} == {
        k: v for k, v in real.items() if k not in differ
    }
    assert (dry["applied"], real["applied"]) == (False, True)


def test_rejected_rows_block_the_whole_import_unless_valid_rows_are_kept(omb):
    report = run(omb, keep_valid_rows=False)
    assert report["applied"] is False
    assert "4 rows were rejected" in report["message"]
    assert Initiative.objects.count() == 0
    assert BusinessUnit.objects.count() == 0


def test_a_newer_inventory_updates_and_records_stage_changes_as_import_transitions(omb):
    run(omb)
    triage = by_name("Case triage")
    entered = triage.stage_entered_at

    def newer(row):
        if row["id"] == "DOJ-0002":
            row["development_stage"] = "Deployed"
        if row["use_case_name"] == "Chatbot" and row["agency_bureau"] == "CDC":
            row["development_stage"] = "Pilot"
        if row["id"] == "DOJ-0001":
            row["hi_assessment_completed"] = "Yes"

    report = run(omb, data=rewrite_csv(small_bytes(), newer), filename="inventory-2026.csv")
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 3, 3)
    assert report["stage_transitions"] == 2
    summariser = by_name("Document summariser")
    assert summariser.stage == "initial_production"
    t = StageTransition.objects.get(initiative=summariser)
    assert (t.from_stage, t.to_stage, t.decision, t.source, t.decided_by) == (
        "proof_of_concept",
        "initial_production",
        "import",
        SOURCE,
        None,
    )
    assert "Stage reported as Deployed" in t.rationale and "inventory-2026.csv" in t.rationale
    chatbot = Initiative.objects.get(name="Chatbot", business_unit__name="CDC")
    assert chatbot.stage == "proof_of_concept"
    assert StageTransition.objects.get(initiative=chatbot).from_stage == "unknown"
    assert (
        ControlAttestation.objects.get(initiative=triage, control__code="OMB-MP-2").status
        == "attested"
    )
    triage.refresh_from_db()
    assert triage.stage_entered_at == entered  # no stage change, no move


def test_imports_are_attributed_to_the_acting_user_in_the_audit_trail(omb, pmo):
    run(omb, user=pmo)
    event = by_name("Case triage").events.first()
    assert event.pgh_context.metadata["user"] == pmo.pk


def test_only_pmo_staff_may_import(omb, lead_a):
    with pytest.raises(PermissionDenied):
        run(omb, user=lead_a)


def test_xlsx_with_a_title_row_imports_like_the_csv(omb):
    report = run(omb, data=csv_to_xlsx(small_bytes(), title="DOJ inventory"), filename="x.xlsx")
    assert (report["created"], report["rejected"], report["header_row"]) == (6, 4, 2)
    assert by_name("Document summariser").source_data["raw"]["use_case_name"] == (
        "Document\nsummariser"
    )


def test_windows_1252_file_with_header_on_second_line_imports(omb):
    data = (FILES / "cp1252_header_row2.csv").read_bytes()
    refused = run(omb, data=data, filename="w.csv")
    assert refused["refused"] and "not in the file" in refused["message"]
    assert Initiative.objects.count() == 0
    report = run(omb, data=data, filename="w.csv", allow_missing_columns=True)
    assert (report["rows_read"], report["created"]) == (2, 2)
    assert "is_high_impact" in report["missing_columns"]  # a partial layout, said so
    assert any("is_high_impact" in w for w in report["warnings"])
    cafe = Initiative.objects.get(source_key="EXA/EXA-1")
    assert cafe.name == "Café résumé screening – “pilot”"
    assert cafe.business_unit.name == "Office of Naïve Analysis"
    assert cafe.started_on == dt.date(2025, 3, 1)


def test_another_format_imports_through_a_mapping_file_not_code(unit_a):
    mapping = load_mapping(
        text=(FILES / "custom_mapping.toml").read_text(), filename="custom_mapping.toml"
    )
    report = inventory_import(
        acting_user=None,
        data=(FILES / "custom.csv").read_bytes(),
        filename="custom.csv",
        mapping=mapping,
        keep_valid_rows=True,
    )
    assert (report["rows_read"], report["created"], report["rejected"]) == (4, 4, 0)
    fraud = Initiative.objects.get(source="acme-ai-register", source_key="RETAIL/R-1")
    assert fraud.business_unit.parent_id == unit_a.pk  # existing unit matched by code
    assert (fraud.stage, fraud.build_or_buy, fraud.uses_pii) == ("initial_production", "buy", True)
    copilot = Initiative.objects.get(name="Advisor copilot")
    assert copilot.started_on == dt.date(2025, 1, 15)
    assert copilot.stage == "scaled_deployment"
    assert report["unmapped"] == {
        "Go-live": {"31/31/2025": 1},
        "Personal data": {"maybe": 1},
        "Phase": {"Unknown phase": 1},
        "Sourcing": {"Outsourced": 1},
    }


def test_initiatives_missing_from_a_newer_file_are_reported_and_kept(omb):
    run(omb)
    data = small_bytes().decode("utf-8-sig")
    shorter = "\r\n".join(line for line in data.split("\r\n") if "DOI-0017" not in line)
    report = run(omb, data=shorter.encode("utf-8"))
    assert report["not_in_file"] == 1
    assert by_name("Wildfire detection").stage == "unknown"
