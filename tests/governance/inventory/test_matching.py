"""Issue 17: matching across years (key fallbacks, renamed units) and its report."""

from __future__ import annotations

import pytest

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from people.models import BusinessUnit
from portfolio.models import Initiative, StageTransition
from tests.governance.inventory.helpers import OMB_COLUMNS, csv_bytes, without

pytestmark = pytest.mark.django_db

SOURCE = "us-federal-ai-inventory"
LAST_YEAR = [  # the 2024 file: no id column at all, keyed by agency + name
    {
        "agency": "DOJ",
        "agency_name": "Department of Justice",
        "use_case_name": "Case triage",
        "agency_bureau": "FBI",
        "development_stage": "Pilot",
        "problem_solved": "Too many tips.",
        "contracting_usage": "Vendor Purchased",
    },
    {
        "agency": "DOJ",
        "agency_name": "Department of Justice",
        "use_case_name": "Document  Summariser",
        "agency_bureau": "Federal Bureau of Investigation",
        "development_stage": "Pre-deployment",
        "problem_solved": "Long documents.",
    },
    {
        "agency": "HHS",
        "agency_name": "Department of Health and Human Services",
        "use_case_name": "Chatbot",
        "agency_bureau": "CDC",
        "development_stage": "Deployed",
        "problem_solved": "Questions.",
    },
]
THIS_YEAR = [  # the 2025 file: ids, newer stages, a blank problem, a new use case
    {**LAST_YEAR[0], "id": "DOJ-0001", "development_stage": "Deployed", "problem_solved": ""},
    {
        **LAST_YEAR[1],
        "id": "DOJ-0002",
        "use_case_name": "document summariser",
        "development_stage": "Pilot",
    },
    {**LAST_YEAR[2], "id": "HHS-7"},
    {
        "agency": "HHS",
        "agency_name": "Department of Health and Human Services",
        "id": "HHS-8",
        "use_case_name": "Grant reviewer",
        "development_stage": "Pilot",
    },
]
NO_ID = without(OMB_COLUMNS, "id")


@pytest.fixture
def omb():
    return load_mapping(format_name="omb-2025")


def run(mapping, data, **kw):
    kw.setdefault("allow_missing_columns", True)
    return inventory_import(
        acting_user=None, data=data, filename=kw.pop("filename", "f.csv"), mapping=mapping, **kw
    )


def test_last_years_rows_without_ids_match_this_years_rows_with_ids_by_name(omb):
    first = run(omb, csv_bytes(LAST_YEAR, NO_ID), filename="inventory-2024.csv")
    assert first["created"] == 3 and first["matched"] == {"new": 3}

    dry = run(omb, csv_bytes(THIS_YEAR), filename="inventory-2025.csv", dry_run=True)
    assert {m["name"]: m["how"] for m in dry["matches"]} == {
        "Case triage": "name",
        "document summariser": "name",
        "Chatbot": "name",
        "Grant reviewer": "new",
    }
    assert Initiative.objects.count() == 3 and not StageTransition.objects.exists()

    report = run(omb, csv_bytes(THIS_YEAR), filename="inventory-2025.csv")
    assert report["matched"] == {"name": 3, "new": 1}
    assert (report["created"], report["updated"]) == (1, 3)
    assert Initiative.objects.filter(source=SOURCE).count() == 4  # nothing duplicated
    triage = Initiative.objects.get(name="Case triage")
    assert triage.source_key == "DOJ/DOJ-0001"  # keyed by its id from now on
    assert triage.stage == "initial_production"
    assert triage.problem == "Too many tips."  # a blank cell erased nothing
    assert triage.build_or_buy == "buy"
    t = StageTransition.objects.get(initiative=triage)
    assert (t.from_stage, t.to_stage, t.decision, t.source) == (
        "proof_of_concept",
        "initial_production",
        "import",
        SOURCE,
    )
    assert "inventory-2025.csv" in t.rationale and "OMB 2025" in t.rationale
    assert StageTransition.objects.count() == 1  # pre-deployment -> pilot is the same stage

    again = run(omb, csv_bytes(THIS_YEAR), filename="inventory-2025.csv")
    assert again["matched"] == {"id": 4} and again["unchanged"] == 4


def test_rows_with_two_different_ids_are_two_use_cases_even_with_one_name(omb):
    rows = [{**THIS_YEAR[0]}]
    run(omb, csv_bytes(rows))
    other = [{**THIS_YEAR[0], "id": "DOJ-0099"}]
    report = run(omb, csv_bytes(other))
    assert report["matched"] == {"new": 1}
    assert Initiative.objects.filter(name="Case triage").count() == 2


def test_a_name_shared_by_several_stored_initiatives_is_not_guessed(omb):
    rows = [
        {**LAST_YEAR[2], "agency_bureau": "CDC"},
        {**LAST_YEAR[2], "agency_bureau": "NIH"},
    ]
    run(omb, csv_bytes(rows, NO_ID))
    report = run(omb, csv_bytes([{**LAST_YEAR[2], "agency_bureau": "", "id": "HHS-1"}]))
    assert report["matched"] == {"new": 1}
    assert report["match_notes"][0]["note"].startswith("2 stored initiatives are named")


RENAMED = """
name = "agencies"
source = "agencies"
[unit]
column = "Agency"
name_column = "Agency name"
child_column = "Office"
[unit.aliases]
DOD = ["DOW", "Department of War"]
[key]
columns = ["Id"]
fallback = [{ columns = ["Old id"] }, "name"]
[fields.name]
column = "Name"
[fields.stage]
column = "Stage"
type = "choice"
values = { Pilot = "proof_of_concept", Live = "initial_production" }
"""
COLS = ["Agency", "Agency name", "Office", "Id", "Old id", "Name", "Stage"]


def test_a_renamed_top_level_unit_keeps_its_initiatives_through_the_alias_list(db):
    mapping = load_mapping(text=RENAMED, filename="agencies.toml")
    before = [
        {"Agency": "DOD", "Agency name": "Department of Defense", "Office": "Army",
         "Id": "1", "Name": "Logistics", "Stage": "Pilot"},
        {"Agency": "DOD", "Agency name": "Department of Defense", "Id": "2",
         "Name": "Maintenance", "Stage": "Pilot"},
    ]  # fmt: skip
    run(mapping, csv_bytes(before, COLS))
    after = [
        {**before[0], "Agency": "DOW", "Agency name": "Department of War", "Stage": "Live"},
        {**before[1], "Agency": "DOW", "Agency name": "Department of War"},
    ]
    report = run(mapping, csv_bytes(after, COLS))
    assert report["matched"] == {"id": 2} and report["created"] == 0
    assert Initiative.objects.count() == 2
    assert BusinessUnit.objects.filter(parent__isnull=True).count() == 1
    assert BusinessUnit.objects.filter(code="DOD-ARMY").count() == 1
    assert Initiative.objects.get(name="Logistics").stage == "initial_production"


def test_a_top_level_unit_with_a_new_code_but_its_old_name_is_the_same_unit(db):
    mapping = load_mapping(text=RENAMED, filename="agencies.toml")
    row = {"Agency": "USAID", "Agency name": "Agency for International Development",
           "Id": "1", "Name": "Aid model", "Stage": "Pilot"}  # fmt: skip
    run(mapping, csv_bytes([row], COLS))
    report = run(mapping, csv_bytes([{**row, "Agency": "AID"}], COLS))
    assert report["matched"] == {"id": 1}
    assert BusinessUnit.objects.count() == 1


def test_an_id_fallback_column_matches_a_renumbered_row(db):
    mapping = load_mapping(text=RENAMED, filename="agencies.toml")
    row = {"Agency": "DOD", "Id": "1", "Name": "Logistics", "Stage": "Pilot"}
    run(mapping, csv_bytes([row], COLS))
    renumbered = {**row, "Id": "DOD-2025-01", "Old id": "1", "Name": "Logistics AI"}
    report = run(mapping, csv_bytes([renumbered], COLS))
    assert report["matched"] == {"id (Old id)": 1}
    ini = Initiative.objects.get()
    assert (ini.name, ini.source_key) == ("Logistics AI", "DOD/DOD-2025-01")
