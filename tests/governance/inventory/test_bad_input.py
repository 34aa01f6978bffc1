"""Issue 17: mappings are validated when loaded; no input yields a traceback or a 500."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import MappingError, load_mapping
from governance.inventory.reader import InventoryFileError
from portfolio.models import Initiative
from tests.governance.inventory.helpers import csv_bytes, small_bytes

pytestmark = pytest.mark.django_db

BASE = 'name = "x"\nsource = "x"\n[unit]\ncolumn = "Unit"\n[fields.name]\ncolumn = "Name"\n'


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('header_scan_rows = "x"\n' + BASE, r"header_scan_rows: expected a whole number"),
        ("header_scan_rows = true\n" + BASE, r"header_scan_rows: expected a whole number"),
        ("header_scan_rows = 0\n" + BASE, r"header_scan_rows: expected a whole number from 1"),
        ('placeholders = "TBD"\n' + BASE, r"placeholders: expected a list of texts"),
        ("sheet = 3\n" + BASE, r"sheet: expected text"),
        ('export_columns = "a"\n' + BASE, r"export_columns: expected a list"),
        (BASE + '[key]\ncolumns = "id"\n', r"key\.columns: expected a list of columns"),
        (BASE + "[key]\ncolumns = []\n", r"key\.columns: expected at least one column"),
        (BASE + '[key]\ncolumns = ["id"]\nfallback = "name"\n', r"key\.fallback: expected a list"),
        (BASE + '[key]\ncolumns = ["id"]\nfallback = ["nmae"]\n', r"key\.fallback\[0\]"),
        (
            BASE + '[fields.stage]\ncolumn = "S"\ntype = "choice"\nvalues = ["Pilot"]\n',
            r"fields\.stage\.values: expected a table",
        ),
        (
            BASE + '[fields.uses_pii]\ncolumn = "P"\ntype = "text"\n',
            r"fields\.uses_pii\.type: this field holds true/false",
        ),
        (
            BASE + '[fields.uses_pii]\ncolumn = "P"\ntype = "bool"\nvalues = { Yes = "yes" }\n',
            r"fields\.uses_pii\.values: expected true or false",
        ),
        (
            BASE + '[fields.stage]\ncolumn = "S"\n',
            r"fields\.stage\.values: a choice field needs a 'values' table",
        ),
        (
            BASE
            + '[fields.stage]\ncolumn = "S"\ntype = "choice"\nvalues = { Live = "Deployed" }\n',
            r"fields\.stage: values Deployed are not among",
        ),
        (
            BASE + '[fields.started_on]\ncolumn = "D"\ntype = "text"\n',
            r"fields\.started_on\.type: this field holds a date",
        ),
        (
            BASE + '[fields.started_on]\ncolumn = "D"\ntype = "date"\nformats = "%Y"\n',
            r"fields\.started_on\.formats: expected a list",
        ),
        (
            BASE + "[fields.summary]\ncolumn = 5\n",
            r"fields\.summary\.column: expected a column name",
        ),
        (BASE + '[fields.summary]\ncolumn = "S"\ncollapse = "no"\n', r"collapse: expected true"),
        (BASE + '[fields.summary]\ncolumn = "S"\nmax_length = "9"\n', r"max_length: expected a"),
        (BASE + '[fields.summary]\ncolumn = "S"\nregex = "("\n', r"regex: not a valid regular"),
        (BASE + '[fields.summary]\ncolumn = "S"\nregex = "a+"\n', r"regex: expected a regular"),
        (BASE + '[fields.summary]\ncolumn = "S"\nsplit = "-"\n', r"split: expected a table"),
        (BASE + '[fields.summary]\ncolumn = "S"\noccurrence = 0\n', r"occurrence: expected a"),
        (BASE + '[fields.summary]\ncolumn = "S"\nvalue = "x"\n', r"give exactly one of"),
        (BASE + '[fields.summary]\ncolum = "S"\n', r"fields\.summary: unknown keys colum"),
        (
            BASE
            + '[[controls]]\ncode = "C"\nname = "C"\ncolumn = "C"\ntype = "list"\n'
            + 'combine = "all"\nvalues = { Yes = "attested" }\n',
            r"controls\.C\.type: this field holds one of .* got 'list' with combine = 'all'",
        ),
        (
            BASE + '[[controls]]\ncode = "C"\nname = "C"\ncolumn = "C"\nvalues = { Yes = "ok" }\n',
            r"controls\.C: values ok are not among",
        ),
        ("controls = 3\n" + BASE, r"controls: expected a list"),
        (BASE + '[risk]\nfields = "x"\n', r"risk\.fields: expected a table"),
        (BASE + '[aliases]\nName = "Title"\n', r"aliases\.Name: expected a list"),
        (BASE + "[unit.aliases]\nX = 1\n", r"unit\.aliases\.X: expected a list"),
        (BASE + '[[filters]]\ncolumn = "U"\n', r"filters\[0\]: say which values"),
        (
            'name = "x"\nsource = "x"\nunit = "Unit"\n[fields.name]\ncolumn = "N"\n',
            r"unit: expected a table",
        ),
        (
            'name = "x"\nsource = "x"\nfields = []\n[unit]\ncolumn = "U"\n',
            r"fields: expected a table",
        ),
        ("missing_columns_limit = 2\n" + BASE, r"missing_columns_limit: expected a share"),
        ("bogus = 1\n" + BASE, r"Unknown top-level keys: bogus"),
        ('["a"]', r"The mapping: expected a table"),
    ],
)
def test_a_malformed_mapping_is_refused_naming_the_key_and_what_it_expects(doc, message):
    filename = "m.json" if doc.startswith("[") else "m.toml"
    with pytest.raises(MappingError, match=message):
        load_mapping(text=doc, filename=filename)


def test_a_mapping_that_is_not_utf8_or_holds_nul_is_refused():
    with pytest.raises(MappingError, match="not UTF-8"):
        load_mapping(text=b'name = "caf\xe9"', filename="m.toml")
    with pytest.raises(MappingError, match="NUL"):
        load_mapping(text=BASE + "\x00", filename="m.toml")


OMB_ROW = {
    "agency": "DOJ",
    "agency_name": "Department of Justice",
    "id": "DOJ-1",
    "use_case_name": "Case\x00 triage",
    "development_stage": "Deployed",
    "problem_solved": "Tips\x00\x00",
}


def test_nul_bytes_in_cells_are_removed_and_reported_not_a_database_error():
    omb = load_mapping(format_name="omb-2025")
    report = inventory_import(
        acting_user=None, data=csv_bytes([OMB_ROW]), filename="n.csv", mapping=omb
    )
    assert report["created"] == 1 and report["nul_removed"] == 3
    assert any("NUL" in w for w in report["warnings"])
    ini = Initiative.objects.get()
    assert (ini.name, ini.problem) == ("Case triage", "Tips")


def test_the_command_reports_nul_bytes_instead_of_a_traceback(tmp_path):
    path = tmp_path / "n.csv"
    path.write_bytes(csv_bytes([OMB_ROW]))
    out = io.StringIO()
    call_command("import_inventory", str(path), stdout=out)
    assert "NUL characters were removed" in out.getvalue()


def test_the_command_refuses_a_malformed_mapping_with_its_message(tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('header_scan_rows = "x"\n' + BASE)
    path = tmp_path / "n.csv"
    path.write_bytes(b"Unit,Name\nA,B\n")
    with pytest.raises(CommandError, match="header_scan_rows"):
        call_command("import_inventory", str(path), "--mapping", str(mapping))


GARBAGE = [
    b"\x00" * 50,
    b"PK\x03\x04" + b"\x00" * 100,
    b"\xff\xfe" + "agency,use_case_name\nDOJ,X\x00\n".encode("utf-16-le"),
    b"[1, 2, 3]",
    b'{"a": [1, 2]}',
    b"[" * 5000,
    b'agency,use_case_name\n"DOJ,unterminated\n',
    bytes(range(256)) * 4,
    "agency;use_case_name\r\nDOJ;Caf\u00e9\r\n".encode("cp1252"),
    b"agency,use_case_name\n" + b"DOJ," + b"x" * 400 + b"\n",
]


@pytest.mark.parametrize("data", GARBAGE)
@pytest.mark.parametrize("filename", ["f.csv", "f.xlsx", "f.json", "f.jsonl"])
def test_any_bytes_give_a_report_or_a_clear_error_never_a_traceback(data, filename):
    omb = load_mapping(format_name="omb-2025")
    try:
        report = inventory_import(
            acting_user=None,
            data=data,
            filename=filename,
            mapping=omb,
            keep_valid_rows=True,
            allow_missing_columns=True,
        )
    except InventoryFileError as exc:
        assert str(exc)
    else:
        assert report["rows_read"] >= 0


def post(client, data, mapping=None, name="f.csv"):
    payload = {"file": SimpleUploadedFile(name, data), "action": "import", "keep_valid_rows": "on"}
    if mapping is None:
        payload["format"] = "omb-2025"
    else:
        payload["format"] = "mapping"
        payload["mapping"] = SimpleUploadedFile("m.toml", mapping)
    return client.post(reverse("governance:inventory_import"), payload)


@pytest.mark.parametrize(
    "mapping",
    [
        b'header_scan_rows = "x"\n' + BASE.encode(),
        BASE.encode() + b'[fields.uses_pii]\ncolumn = "P"\ntype = "text"\n',
        BASE.encode() + b'[fields.stage]\ncolumn = "S"\ntype = "choice"\nvalues = ["a"]\n',
        b"\xff\xfe\x00garbage",
        b"name = ",
    ],
)
def test_the_upload_page_shows_a_malformed_mapping_as_a_form_error_not_a_500(client, pmo, mapping):
    client.force_login(pmo)
    response = post(client, b"Unit,Name\nA,B\n", mapping=mapping)
    assert response.status_code == 200
    assert response.context["form"].errors["mapping"]
    assert Initiative.objects.count() == 0


@pytest.mark.parametrize("data", [csv_bytes([OMB_ROW]), b"\x00" * 50, b"PK\x03\x04junk"])
def test_the_upload_page_never_answers_500_on_bad_bytes(client, pmo, data):
    client.force_login(pmo)
    response = post(client, data)
    assert response.status_code == 200


def test_the_small_file_still_imports_through_the_page(client, pmo):
    client.force_login(pmo)
    assert post(client, small_bytes()).status_code == 200
    assert Initiative.objects.count() == 6
