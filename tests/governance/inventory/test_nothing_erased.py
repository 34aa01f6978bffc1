"""Issue 17: a later file never erases what is stored unless the mapping says so."""

from __future__ import annotations

import pytest

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from governance.models import RiskAssessment
from portfolio.models import Initiative, StageTransition
from tests.governance.inventory.helpers import OMB_COLUMNS, csv_bytes, without

pytestmark = pytest.mark.django_db

ROWS = [
    {
        "agency": "DOJ",
        "agency_name": "Department of Justice",
        "id": "DOJ-1",
        "use_case_name": "Case triage",
        "agency_bureau": "FBI",
        "development_stage": "Deployed",
        "is_high_impact": "High-impact",
        "problem_solved": "Too many tips.",
        "benefits": "Faster triage.",
        "contracting_usage": "Vendor Purchased",
        "has_pii": "Yes",
        "operational_date": "2024-10-01",
    },
    {
        "agency": "DOJ",
        "agency_name": "Department of Justice",
        "id": "DOJ-2",
        "use_case_name": "Summariser",
        "agency_bureau": "FBI",
        "development_stage": "Pilot",
        "problem_solved": "Long documents.",
        "benefits": "Short summaries.",
        "contracting_usage": "In-house Development",
        "has_pii": "No",
    },
]


@pytest.fixture
def omb():
    return load_mapping(format_name="omb-2025")


def run(mapping, data, **kw):
    return inventory_import(
        acting_user=None, data=data, filename=kw.pop("filename", "f.csv"), mapping=mapping, **kw
    )


def stored(name):
    return Initiative.objects.get(name=name)


def test_columns_absent_from_a_newer_file_leave_their_fields_alone(omb):
    run(omb, csv_bytes(ROWS))
    columns = without(OMB_COLUMNS, "problem_solved", "benefits", "contracting_usage", "has_pii")
    report = run(omb, csv_bytes(ROWS, columns), filename="2026.csv")
    triage = stored("Case triage")
    assert (triage.problem, triage.summary, triage.build_or_buy, triage.uses_pii) == (
        "Too many tips.",
        "Faster triage.",
        "buy",
        True,
    )
    assert set(report["missing_columns"]) >= {"problem_solved", "benefits", "contracting_usage"}
    assert report["warnings"] and "problem_solved" in report["warnings"][0]
    assert "not in the file" in report["message"]
    assert (report["updated"], report["unchanged"]) == (0, 2)


def test_blank_cells_keep_the_stored_values_and_are_counted_per_field(omb):
    run(omb, csv_bytes(ROWS))
    blanked = [
        {**r, "problem_solved": "", "development_stage": "", "is_high_impact": "", "has_pii": "N/A"}
        for r in ROWS
    ]
    blanked[0]["HI_justification"] = "Reviewed in 2026."  # the risk columns say something
    report = run(omb, csv_bytes(blanked), filename="2026.csv")
    triage = stored("Case triage")
    assert (triage.problem, triage.stage, triage.uses_pii) == (
        "Too many tips.",
        "initial_production",
        True,
    )
    assert not StageTransition.objects.exists()  # never moved back to unknown
    ra = RiskAssessment.objects.get(initiative=triage)
    assert (ra.us_high_impact, ra.eu_tier) == (True, "high")
    assert ra.us_justification == "Reviewed in 2026."
    fields = report["fields"]
    assert fields["problem"]["would_clear"] == 2 and fields["problem"]["cleared"] == 0
    assert fields["stage"]["would_clear"] == 2
    assert fields["uses_pii"]["would_clear"] == 2
    assert fields["summary"]["kept"] == 2
    assert report["fields"]["risk.us_high_impact"]["would_clear"] == 1


def test_an_unmapped_stage_never_moves_a_stage_back_to_unknown(omb):
    run(omb, csv_bytes(ROWS))
    odd = [{**r, "development_stage": "Operational"} for r in ROWS]
    report = run(omb, csv_bytes(odd), filename="2026.csv")
    assert stored("Case triage").stage == "initial_production"
    assert stored("Summariser").stage == "proof_of_concept"
    assert report["stage_transitions"] == 0
    assert report["unmapped"]["development_stage"] == {"Operational": 2}


def test_the_report_counts_values_set_and_changed(omb):
    run(omb, csv_bytes(ROWS))
    newer = [
        {**ROWS[0], "benefits": "Much faster triage."},
        {**ROWS[1], "operational_date": "2025-01-01"},
    ]
    report = run(omb, csv_bytes(newer), filename="2026.csv")
    assert report["fields"]["summary"]["changed"] == 1
    assert report["fields"]["started_on"]["set"] == 1
    assert stored("Case triage").summary == "Much faster triage."


CLEARING = """
name = "reg"
source = "reg"
[unit]
column = "Unit"
[key]
columns = ["Ref"]
[fields.name]
column = "Name"
[fields.summary]
column = "Summary"
clear = true
[fields.problem]
column = "Problem"
"""


def test_a_mapping_may_opt_in_to_clearing_a_field(unit_a):
    mapping = load_mapping(text=CLEARING, filename="reg.toml")
    cols = ["Unit", "Ref", "Name", "Summary", "Problem"]
    first = [{"Unit": "RETAIL", "Ref": "1", "Name": "A", "Summary": "S", "Problem": "P"}]
    run(mapping, csv_bytes(first, cols))
    report = run(mapping, csv_bytes([{**first[0], "Summary": "", "Problem": ""}], cols))
    a = stored("A")
    assert (a.summary, a.problem) == ("", "P")
    assert report["fields"]["summary"]["cleared"] == 1
    assert report["fields"]["problem"]["would_clear"] == 1


def test_a_stage_cannot_be_opted_in_to_clearing(db):
    from governance.inventory.mapping import MappingError

    doc = (
        CLEARING
        + '[fields.stage]\ncolumn = "Phase"\ntype = "choice"\nvalues = { x = "killed" }\nclear = true\n'
    )
    with pytest.raises(MappingError, match="fields.stage.clear"):
        load_mapping(text=doc, filename="reg.toml")


def test_most_columns_missing_refuses_unless_told_to_go_on(omb):
    columns = ["agency", "use_case_name", "development_stage"]
    report = run(omb, csv_bytes(ROWS, columns))
    assert report["refused"] and not report["applied"]
    assert "Nothing was written" in report["message"]
    assert Initiative.objects.count() == 0
    report = run(omb, csv_bytes(ROWS, columns), allow_missing_columns=True)
    assert report["applied"] and report["created"] == 2
    assert len(report["missing_columns"]) > 20


def test_an_ended_initiative_is_not_moved_by_a_later_file_and_the_report_says_so(omb):
    run(omb, csv_bytes([{**ROWS[0], "development_stage": "Retired"}]))
    report = run(omb, csv_bytes([{**ROWS[0], "development_stage": "Pilot"}]), filename="2026.csv")
    assert stored("Case triage").stage == "retired"
    assert report["stage_transitions"] == 0
    assert report["stages_kept_ended"][0]["stage"] == "retired"
    assert any("does not move again" in w for w in report["warnings"])


def test_a_stage_dated_by_the_import_takes_the_files_date_when_a_later_file_has_one(omb):
    import datetime as dt

    from django.utils import timezone

    run(omb, csv_bytes([{**ROWS[1]}]))  # Pilot, no date: dated by the import
    summariser = stored("Summariser")
    assert timezone.localdate(summariser.stage_entered_at) == timezone.localdate()
    report = run(omb, csv_bytes([{**ROWS[1], "operational_date": "03/2024"}]))
    summariser.refresh_from_db()
    assert timezone.localdate(summariser.stage_entered_at) == dt.date(2024, 3, 1)
    assert report["updated"] == 1
    again = run(omb, csv_bytes([{**ROWS[1], "operational_date": "03/2024"}]))
    assert again["unchanged"] == 1
