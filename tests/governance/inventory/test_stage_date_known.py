"""A stage the file does not date is "date not known", not "in stage since <import day>"
(#16: 61% of the federal rows have no stage date)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from people.models import BusinessUnit
from portfolio.models import Initiative
from portfolio.services import stage_decide
from tests.governance.inventory.helpers import csv_bytes

pytestmark = pytest.mark.django_db

ROW = {
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
}


@pytest.fixture
def omb():
    return load_mapping(format_name="omb-2025")


def run(mapping, rows):
    return inventory_import(
        acting_user=None, data=csv_bytes(rows), filename="f.csv", mapping=mapping
    )


def test_an_undated_stage_is_not_known_and_a_dated_one_is(omb):
    run(omb, [ROW, {**ROW, "id": "DOJ-3", "use_case_name": "Dated", "operational_date": "03/2024"}])
    undated, dated = Initiative.objects.get(name="Summariser"), Initiative.objects.get(name="Dated")
    assert undated.stage_date_known is False
    # kept for the stall rules: "entered no earlier than the import"
    assert timezone.localdate(undated.stage_entered_at) == timezone.localdate()
    assert dated.stage_date_known is True
    assert timezone.localdate(dated.stage_entered_at) == dt.date(2024, 3, 1)


def test_a_later_file_with_the_date_makes_it_known(omb):
    run(omb, [ROW])
    run(omb, [{**ROW, "operational_date": "03/2024"}])
    summariser = Initiative.objects.get(name="Summariser")
    assert summariser.stage_date_known is True
    assert timezone.localdate(summariser.stage_entered_at) == dt.date(2024, 3, 1)


def test_a_gate_decision_that_moves_the_stage_dates_it(omb, pmo):
    run(omb, [ROW])
    summariser = Initiative.objects.get(name="Summariser")
    stage_decide(acting_user=pmo, initiative=summariser, decision="kill", rationale="No value.")
    summariser.refresh_from_db()
    assert summariser.stage_date_known is True


def test_pages_and_export_say_date_not_known_instead_of_the_import_day(omb, client, pmo):
    run(omb, [ROW])
    summariser = Initiative.objects.get(name="Summariser")
    assert BusinessUnit.objects.filter(pk=summariser.business_unit_id).exists()
    today = timezone.localdate().strftime("%-d %b %Y")
    client.force_login(pmo)

    detail = client.get(reverse("initiative_detail", args=[summariser.pk])).content.decode()
    assert "in stage since a date not known" in detail
    assert "in stage</span>" not in detail  # no "0 days in stage"
    assert 'In stage since</dt><dd class="col-sm-8">Date not known' in detail

    listing = client.get(reverse("initiative_list")).content.decode()
    row = listing[listing.index(summariser.code) :]
    row = row[: row.index("</tr>")]
    # "In stage since" says so and "Days in stage" is blank (only last activity is dated)
    assert "date not known</span></td>" in row and '<td class="num"></td>' in row
    assert row.count(today) == 1

    export = client.get(reverse("initiative_export", args=["csv"]))
    body = b"".join(export.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    mine = next(r for r in rows if r["Code"] == summariser.code)
    assert mine["In stage since"] == "" and mine["Days in stage"] == ""

    api = client.get(f"/api/v1/initiatives/{summariser.pk}/").json()
    assert api["stage_date_known"] is False
