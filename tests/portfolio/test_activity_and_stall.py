"""Issue 14, part 1: one definition of activity (business dates, kept by the database on
every write path) and of stalled, used by every page, scan, export and the API.

The issue's examples: a spend posting dated 1 July imported today made an initiative idle
for 120 days "not stalled"; the PMO home and Governance -> Stalled disagreed about one
initiative's last activity; the home's count linked to a list of other rows; asking for a
stall decision took the initiative off the stalled list; a unit lead's home did not name
its stalled pilots.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from finance.services import spend_import
from governance.selectors import stalled_initiatives as governance_stalled
from governance.services import gate_decide, gate_review_open_for_stall
from portfolio import selectors
from portfolio.models import Initiative, StagePolicy
from tests import factories as f

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def _pilot(unit, *, entered_days_ago: int, code: str = "AI-P-1", **kwargs) -> Initiative:
    entered = timezone.now() - dt.timedelta(days=entered_days_ago)
    return f.InitiativeFactory(
        code=code,
        business_unit=unit,
        stage="proof_of_concept",
        stage_entered_at=entered,
        **kwargs,
    )


def _activity(initiative) -> dt.date:
    return Initiative.objects.values_list("last_activity_on", flat=True).get(pk=initiative.pk)


@pytest.fixture
def policy(db):
    # Limit long enough that only inactivity matters, unless a test says otherwise.
    return StagePolicy.objects.create(
        stage="proof_of_concept", limit_days=10_000, inactivity_days=90, decision_days=14
    )


# --- Activity is the business date, kept by the database ------------------------------


def test_spend_dated_120_days_ago_imported_today_leaves_the_pilot_stalled(policy, finance, unit_a):
    pilot = _pilot(unit_a, entered_days_ago=200)
    posted = _days_ago(120)
    body = (
        "date,initiative,kind,category,amount,currency,vendor,reference\n"
        f"{posted.isoformat()},{pilot.code},one_time,compute,1000.00,USD,Cloud Co,P-1\n"
    )
    result = spend_import(
        acting_user=finance, file=io.BytesIO(body.encode()), filename="p.csv", source="erp"
    )
    assert result.ok
    assert _activity(pilot) == posted  # not the day of the import
    row = Initiative.objects.stalled().get(pk=pilot.pk)
    assert row.inactive and row.days_idle == 120


def test_every_source_sets_activity_on_its_business_date(policy, unit_a, pmo):
    pilot = _pilot(unit_a, entered_days_ago=300)
    entered = _activity(pilot)
    assert entered == _days_ago(300)
    kpi = f.KPIFactory(initiative=pilot)
    f.MeasurementFactory(kpi=kpi, measured_on=_days_ago(250))
    assert _activity(pilot) == _days_ago(250)
    f.AdoptionSnapshotFactory(initiative=pilot, as_of=_days_ago(240))
    assert _activity(pilot) == _days_ago(240)
    f.ControlAttestationFactory(initiative=pilot, attested_on=_days_ago(230))
    assert _activity(pilot) == _days_ago(230)
    f.RiskAssessmentFactory(initiative=pilot, assessed_on=_days_ago(220))
    assert _activity(pilot) == _days_ago(220)
    system = f.AISystemFactory(initiative=pilot)
    f.ModelVersionFactory(ai_system=system, deployed_at=timezone.now() - dt.timedelta(days=210))
    assert _activity(pilot) == _days_ago(210)
    # A posting dated in the future counts as today, not as a date to come.
    f.SpendEntryFactory(initiative=pilot, posted_on=TODAY + dt.timedelta(days=30))
    assert _activity(pilot) == TODAY


def test_correcting_or_deleting_a_record_recomputes_activity_exactly(policy, unit_a):
    pilot = _pilot(unit_a, entered_days_ago=300)
    early = f.SpendEntryFactory(initiative=pilot, posted_on=_days_ago(200))
    late = f.SpendEntryFactory(initiative=pilot, posted_on=_days_ago(10))
    assert _activity(pilot) == _days_ago(10)
    late.posted_on = _days_ago(150)  # a mis-dated posting corrected
    late.save()
    assert _activity(pilot) == _days_ago(150)
    late.delete()
    assert _activity(pilot) == _days_ago(200)
    early.delete()
    assert _activity(pilot) == _days_ago(300)  # back to the stage's start


def test_a_stale_copy_saved_by_the_app_cannot_overwrite_activity(policy, unit_a):
    pilot = _pilot(unit_a, entered_days_ago=300)
    stale = Initiative.objects.get(pk=pilot.pk)
    f.SpendEntryFactory(initiative=pilot, posted_on=_days_ago(5))
    stale.name = "Renamed"
    stale.save()  # writes every column, including its old last_activity_on
    assert _activity(pilot) == _days_ago(5)


def test_bulk_insert_raises_every_touched_initiative_in_one_statement(policy, unit_a):
    pilots = [_pilot(unit_a, entered_days_ago=300, code=f"AI-B-{n}") for n in range(3)]
    from finance.models import SpendEntry

    SpendEntry.objects.bulk_create(
        [
            SpendEntry(
                initiative=p,
                business_unit=unit_a,
                posted_on=_days_ago(40 + n),
                kind="operational",
                category="compute",
                amount=D("1"),
                currency="USD",
                source="erp",
                reference=f"B-{n}",
            )
            for n, p in enumerate(pilots)
        ]
    )
    assert [_activity(p) for p in pilots] == [_days_ago(40), _days_ago(41), _days_ago(42)]


def test_activity_update_writes_no_audit_event_on_the_initiative(policy, unit_a):
    from django.apps import apps

    pilot = _pilot(unit_a, entered_days_ago=300)
    events = apps.get_model("portfolio", "InitiativeEvent").objects.filter(pgh_obj_id=pilot.pk)
    before = events.count()
    f.SpendEntryFactory(initiative=pilot, posted_on=_days_ago(3))
    assert events.count() == before


# --- Stalled: one rule everywhere -----------------------------------------------------------


def test_asking_for_a_stall_decision_is_not_activity_and_keeps_it_stalled(
    policy, unit_a, pmo, lead_a
):
    pilot = _pilot(unit_a, entered_days_ago=200)
    review = gate_review_open_for_stall(acting_user=pmo, initiative=pilot)
    assert review.decision_due_on == TODAY + dt.timedelta(days=14)
    assert _activity(pilot) == _days_ago(200)
    assert Initiative.objects.stalled().filter(pk=pilot.pk).exists()
    # Activity after the request does not end the stall: only the decision does.
    f.SpendEntryFactory(initiative=pilot, posted_on=TODAY)
    row = Initiative.objects.stalled().get(pk=pilot.pk)
    assert row.stall_review_open and not row.inactive
    gate_decide(acting_user=lead_a, review=review, decision="hold", rationale="Sponsor found.")
    assert not Initiative.objects.stalled().filter(pk=pilot.pk).exists()


def test_home_governance_list_and_api_agree_on_the_stalled_rows(
    client, policy, pmo, unit_a, unit_b
):
    stuck = [_pilot(unit_a, entered_days_ago=200, code=f"AI-S-{n}") for n in range(3)]
    fresh = _pilot(unit_a, entered_days_ago=10, code="AI-FRESH")
    late_spend = _pilot(unit_b, entered_days_ago=200, code="AI-LATE")
    f.SpendEntryFactory(initiative=late_spend, posted_on=_days_ago(100))
    production = f.InitiativeFactory(
        code="AI-PROD",
        business_unit=unit_b,
        stage="initial_production",
        stage_entered_at=timezone.now() - dt.timedelta(days=400),
    )
    expected_pilots = {p.code for p in stuck} | {"AI-LATE"}
    client.force_login(pmo)

    home = client.get(reverse("home")).context
    assert home["stalled_count"] == 4
    listed = client.get(home["stalled_url"]).context["page_obj"]
    assert {i.code for i in listed} == expected_pilots
    assert listed.paginator.count == home["stalled_count"]

    gov = client.get(reverse("governance:stalled_list")).context["page_obj"]
    assert {i.code for i in gov} == expected_pilots | {production.code}
    gov_poc = client.get(reverse("governance:stalled_list") + "?stage=proof_of_concept")
    assert {i.code for i in gov_poc.context["page_obj"]} == expected_pilots

    api = client.get("/api/v1/initiatives/?stalled=true&limit=100").json()
    assert {r["code"] for r in api["results"]} == expected_pilots | {production.code}
    assert fresh.code not in {r["code"] for r in api["results"]}
    one = client.get(f"/api/v1/initiatives/{late_spend.pk}/").json()
    assert one["last_activity_on"] == _days_ago(100).isoformat()
    assert one["stalled"] is True and one["days_in_stage"] == 200
    not_stalled = client.get("/api/v1/initiatives/?stalled=false&limit=100").json()
    assert {r["code"] for r in not_stalled["results"]} == {fresh.code}
    assert client.get("/api/v1/initiatives/?stalled=maybe").status_code == 400

    # The scan tells the same initiatives.
    from governance.findings import stalled_initiatives as scan

    assert {f.title.split()[0] for f in scan(today=TODAY)} == expected_pilots | {"AI-PROD"}


def test_initiative_list_has_a_stalled_filter_and_days_in_stage_column(client, policy, pmo, unit_a):
    _pilot(unit_a, entered_days_ago=200, code="AI-OLD")
    _pilot(unit_a, entered_days_ago=5, code="AI-NEW")
    client.force_login(pmo)
    response = client.get(reverse("initiative_list") + "?stalled=1")
    assert [i.code for i in response.context["page_obj"]] == ["AI-OLD"]
    assert b"Days in stage" in response.content
    response = client.get(reverse("initiative_list") + "?sort=-days")
    assert [i.code for i in response.context["page_obj"]] == ["AI-OLD", "AI-NEW"]
    assert response.context["page_obj"][0].days_in_stage == 200


def test_export_carries_activity_days_in_stage_and_stalled(client, policy, pmo, unit_a):
    _pilot(unit_a, entered_days_ago=200, code="AI-OLD")
    client.force_login(pmo)
    response = client.get(reverse("initiative_export", args=["csv"]) + "?stalled=1")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, row = rows[0], rows[1]
    assert row[header.index("Days in stage")] == "200"
    assert row[header.index("Stalled")] == "Yes"
    assert row[header.index("Last activity")] == _days_ago(200).isoformat()


def test_unit_lead_home_names_its_stalled_pilots_with_links(client, policy, lead_a, unit_a, unit_b):
    mine = _pilot(unit_a, entered_days_ago=200, code="AI-MINE")
    _pilot(unit_b, entered_days_ago=200, code="AI-THEIRS")
    client.force_login(lead_a)
    response = client.get(reverse("home"))
    assert [i.code for i in response.context["stalled"]] == ["AI-MINE"]
    assert reverse("initiative_detail", args=[mine.pk]).encode() in response.content
    assert b"AI-THEIRS" not in response.content
    listed = client.get(response.context["stalled_url"]).context["page_obj"]
    assert [i.code for i in listed] == ["AI-MINE"]


def test_unit_lead_does_not_see_other_units_stalled_rows_anywhere(client, policy, lead_b, unit_a):
    pilot = _pilot(unit_a, entered_days_ago=200)
    client.force_login(lead_b)
    assert client.get(f"/api/v1/initiatives/{pilot.pk}/").status_code == 404
    assert client.get("/api/v1/initiatives/?stalled=true").json()["results"] == []
    assert not governance_stalled(lead_b).exists()
    assert not selectors.stalled_initiatives(lead_b).exists()


def test_initiative_api_list_query_count_is_flat(client, policy, pmo, unit_a):
    def count(n):
        for i in range(n):
            p = _pilot(unit_a, entered_days_ago=200 + i, code=f"AI-N-{n}-{i}")
            f.SpendEntryFactory(initiative=p, posted_on=_days_ago(10))
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/api/v1/initiatives/?limit=100")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    client.force_login(pmo)
    assert count(3) == count(30)
