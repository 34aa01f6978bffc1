from __future__ import annotations

import datetime as dt

import pytest

from governance.inventory.mapping import (
    MappingError,
    load_mapping,
    parse_date,
    parse_list,
)


@pytest.fixture
def omb(db):
    return load_mapping(format_name="omb-2025")


def test_stringified_python_lists_are_parsed():
    assert parse_list("['a) Race/Ethnicity', 'c) Age']") == ["a) Race/Ethnicity", "c) Age"]
    assert parse_list("[]") == []
    assert parse_list("x; y") == ["x", "y"]
    assert parse_list("['General solicitations of \\ncomments']") == [
        "General solicitations of comments"
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-09-08 00:00:00", dt.date(2025, 9, 8)),
        ("01/2024", dt.date(2024, 1, 1)),
        ("9/17/2025", dt.date(2025, 9, 17)),
        ("Jan-17", dt.date(2017, 1, 1)),
        ("01/01/2026 12:00:00 AM", dt.date(2026, 1, 1)),
        ("10/1/2023 0:00", dt.date(2023, 10, 1)),
        ("2020", None),
        ("soon", None),
    ],
)
def test_omb_operational_dates_are_parsed_where_unambiguous(omb, raw, expected):
    assert parse_date(raw, omb.fields["started_on"].formats) == expected


def test_the_omb_stage_table_maps_each_reported_value_and_blank_stays_unknown(omb):
    stage = omb.fields["stage"]
    ph = omb.placeholders
    assert stage.parse("Pre-deployment", ph) == ("proof_of_concept", [])
    assert stage.parse("Pilot", ph) == ("proof_of_concept", [])
    assert stage.parse("Deployed", ph) == ("initial_production", [])
    assert stage.parse("Retired", ph) == ("retired", [])
    assert stage.parse("", ph) == ("unknown", [])
    assert stage.parse("TBD", ph) == ("unknown", [])
    assert stage.parse(
        "c) Deployed – The use case is being actively authorized or utilized", ph
    ) == ("initial_production", [])
    assert stage.parse("Operational", ph) == ("unknown", ["Operational"])


def test_the_same_topic_spelled_twice_is_one_topic(omb):
    topic = omb.data_fields["topic"]
    assert topic.parse("Admin Functions", omb.placeholders)[0] == "Administrative Functions"
    assert topic.parse("Administrative functions", omb.placeholders)[0] == (
        "Administrative Functions"
    )


def test_the_omb_format_declares_nine_minimum_practice_controls(omb):
    assert [c.code for c in omb.controls] == [f"OMB-MP-{i}" for i in range(1, 10)]


def test_a_mapping_with_a_stage_outside_the_playbook_is_refused_naming_the_key(db):
    doc = """
name = "x"
source = "x"
[unit]
column = "Unit"
[fields.name]
column = "Name"
[fields.stage]
column = "Phase"
type = "choice"
values = { Live = "production" }
"""
    with pytest.raises(MappingError, match=r"fields\.stage: values production"):
        load_mapping(text=doc, filename="x.toml")


def test_a_mapping_naming_an_unknown_field_is_refused(db):
    doc = '{"name": "x", "source": "x", "unit": {"column": "U"}, "fields": {"name": "N", "budget": "B"}}'
    with pytest.raises(MappingError, match=r"fields\.budget"):
        load_mapping(text=doc, filename="x.json")


def test_a_mapping_without_a_name_column_is_refused(db):
    with pytest.raises(MappingError, match="fields.name"):
        load_mapping(
            text='name="x"\nsource="x"\n[unit]\ncolumn="U"\n[fields.problem]\ncolumn="P"\n'
        )


def test_invalid_toml_is_reported_as_such(db):
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(text="name = ", filename="x.toml")


def test_the_documented_example_mapping_loads(db):
    from pathlib import Path

    from django.conf import settings

    path = Path(settings.BASE_DIR) / "mappings" / "example.toml"
    mapping = load_mapping(text=path.read_text(), filename=path.name)
    assert mapping.fields["stage"].values["Business as usual"] == "institutional"
    assert mapping.controls[0].code == "ACME-DPIA"
    assert mapping.data_fields["owner_email"].column == "Owner"
