"""Issue 17: what real files need, said in the mapping (each with a small fixture)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from governance.models import ControlAttestation, RiskAssessment
from people.models import BusinessUnit
from portfolio.models import Initiative
from tests.governance.inventory.helpers import csv_bytes

pytestmark = pytest.mark.django_db


def run(doc: str, data: bytes, filename="f.csv", **kw):
    mapping = load_mapping(text=doc, filename="m.toml")
    kw.setdefault("keep_valid_rows", True)
    return inventory_import(acting_user=None, data=data, filename=filename, mapping=mapping, **kw)


REPEATED = """
name = "survey"
source = "survey"
[unit]
value = "OPS"
[fields.name]
column = "Use case"
[fields."data.stage_other"]
column = "If Other, please explain."
[fields."data.topic_other"]
column = "If Other, please explain."
occurrence = 2
[fields."data.testing"]
column = "Has pre-deployment testing"
prefix = true
"""


def test_repeated_headers_are_read_by_occurrence_and_every_cell_is_kept():
    header = ["Use case", "Stage", "If Other, please explain.", "Topic",
              "If Other, please explain.", "Has pre-deployment testing been conducted? Practice: X",
              "If Other, please explain."]  # fmt: skip
    row = ["Chatbot", "Other", "Half live", "Other", "Weather", "Yes", "third"]
    out = io.StringIO()
    csv.writer(out).writerows([header, row])
    report = run(REPEATED, out.getvalue().encode())
    assert report["created"] == 1 and report["missing_columns"] == []
    ini = Initiative.objects.get()
    parsed = ini.source_data["parsed"]
    assert (parsed["stage_other"], parsed["topic_other"], parsed["testing"]) == (
        "Half live",
        "Weather",
        "Yes",
    )
    raw = ini.source_data["raw"]
    assert raw["If Other, please explain."] == "Half live"
    assert raw["If Other, please explain. (2)"] == "Weather"
    assert raw["If Other, please explain. (3)"] == "third"  # not mapped, still kept
    assert raw["Has pre-deployment testing"] == "Yes"
    assert len(raw) == len(header)
    assert ini.business_unit.code == "OPS"  # a constant unit for a file without one


LEVELS = """
name = "tree"
source = "tree"
[unit]
columns = ["Ministry", "Directorate", "Office"]
[key]
columns = ["Ref"]
[fields.name]
column = "Title"
[[filters]]
column = "In use?"
skip = ["not used", "withdrawn"]
"""


def test_three_unit_levels_and_row_filters():
    cols = ["Ministry", "Directorate", "Office", "Ref", "Title", "In use?"]
    rows = [
        {"Ministry": "MOF", "Directorate": "Tax", "Office": "Audit", "Ref": "1", "Title": "A",
         "In use?": "yes"},
        {"Ministry": "MOF", "Directorate": "Tax", "Office": "", "Ref": "2", "Title": "B",
         "In use?": "yes"},
        {"Ministry": "MOF", "Directorate": "Tax", "Office": "Audit", "Ref": "3", "Title": "C",
         "In use?": "Not used"},
    ]  # fmt: skip
    report = run(LEVELS, csv_bytes(rows, cols))
    assert (report["created"], report["skipped"]) == (2, 1)
    assert (
        report["skipped_rows"][0]["row"] == 4 and "In use?" in report["skipped_rows"][0]["reason"]
    )
    audit = BusinessUnit.objects.get(name="Audit")
    assert audit.parent.name == "Tax" and audit.parent.parent.code == "MOF"
    assert Initiative.objects.get(name="A").business_unit == audit
    assert Initiative.objects.get(name="B").business_unit.name == "Tax"
    assert report["rows_read"] == 3


TRANSFORMS = """
name = "xf"
source = "xf"
placeholders = ["n/a"]
[unit]
column = "Unit"
[key]
columns = [{ column = "Use case" }]
[fields.name]
column = "Use case"
split = { separator = " - ", index = 1 }
[fields.summary]
columns = ["Summary", "Description"]
[fields.problem]
column = "Problem"
placeholders = ["to be completed"]
[fields.uses_demographics]
column = "Features"
type = "list"
separator = ","
values = { age = true, sex = true, none = false }
[fields."data.ticket"]
column = "Notes"
regex = "ticket #(?P<value>\\\\d+)"
[risk.fields.tier]
column = "Risk level"
type = "choice"
values = { "1" = "minimal", "2" = "limited", "3" = "high", "4" = "prohibited" }
[risk.fields.level]
column = "Risk level"
"""


def test_split_regex_coalesce_separators_placeholders_and_risk_levels(unit_a):
    cols = [
        "Unit",
        "Use case",
        "Summary",
        "Description",
        "Problem",
        "Features",
        "Notes",
        "Risk level",
    ]
    rows = [
        {"Unit": "RETAIL", "Use case": "R-7 - Fraud scoring", "Summary": "", "Description": "Scores",
         "Problem": "To be completed", "Features": "age, sex", "Notes": "see ticket #4521",
         "Risk level": "3"},
        {"Unit": "RETAIL", "Use case": "R-8 - Churn", "Summary": "n/a", "Description": "",
         "Problem": "Churn", "Features": "none", "Notes": "no ticket", "Risk level": "1"},
    ]  # fmt: skip
    report = run(TRANSFORMS, csv_bytes(rows, cols))
    assert report["created"] == 2
    fraud = Initiative.objects.get(name="Fraud scoring")
    assert fraud.source_key == "RETAIL/R-7 - Fraud scoring"
    assert (fraud.summary, fraud.problem, fraud.uses_demographics) == ("Scores", "", True)
    assert fraud.source_data["parsed"]["ticket"] == "4521"
    ra = RiskAssessment.objects.get(initiative=fraud)
    assert ra.eu_tier == "high" and ra.source_data["parsed"]["level"] == "3"
    assert fraud.business_unit_id == unit_a.pk
    fraud.refresh_from_db()
    assert fraud.risk_tier == "high"
    churn = Initiative.objects.get(name="Churn")
    assert (churn.uses_demographics, churn.risk_tier) == (False, "minimal")
    assert report["unmapped"]["Notes"] == {"no ticket": 1}


JSON_MAPPING = """
name = "register"
source = "register"
records = "data.use_cases"
[unit]
column = "owner.unit"
[key]
columns = ["id"]
[fields.name]
column = "title"
[fields.stage]
column = "lifecycle.phase"
type = "choice"
values = { live = "initial_production", trial = "proof_of_concept" }
[fields."data.tags"]
column = "tags"
type = "list"
[[controls]]
code = "REG-DPIA"
name = "DPIA"
column = "checks.dpia"
values = { "true" = "attested", "false" = "not_met" }
"""
RECORDS = [
    {"id": 1, "title": "Claims triage", "owner": {"unit": "CLAIMS"},
     "lifecycle": {"phase": "live"}, "tags": ["nlp", "triage"], "checks": {"dpia": True}},
    {"id": 2, "title": "Fraud", "owner": {"unit": "CLAIMS"}, "lifecycle": {"phase": "trial"},
     "checks": {"dpia": False}},
]  # fmt: skip


def test_json_records_at_a_path_with_nested_keys_flattened():
    data = json.dumps({"data": {"use_cases": RECORDS}}).encode()
    report = run(JSON_MAPPING, data, filename="register.json", allow_missing_columns=True)
    assert report["created"] == 2
    claims = Initiative.objects.get(name="Claims triage")
    assert (claims.stage, claims.source_key) == ("initial_production", "CLAIMS/1")
    assert claims.source_data["parsed"]["tags"] == ["nlp", "triage"]
    assert claims.source_data["raw"]["owner.unit"] == "CLAIMS"
    att = ControlAttestation.objects.get(initiative=claims)
    assert att.status == "attested"


def test_json_lines_read_through_the_same_mapping():
    data = "\n".join(json.dumps(r) for r in RECORDS).encode()
    report = run(JSON_MAPPING, data, filename="register.jsonl", allow_missing_columns=True)
    assert report["created"] == 2
    assert Initiative.objects.get(name="Fraud").stage == "proof_of_concept"


def test_a_json_records_path_that_is_not_there_is_a_clear_error():
    from governance.inventory.reader import InventoryFileError

    with pytest.raises(InventoryFileError, match="records"):
        run(JSON_MAPPING, json.dumps({"data": {}}).encode(), filename="r.json")
