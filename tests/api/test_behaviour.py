"""Concurrency, throttling, service rules through the API, the audit log, rollups."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from finance.models import Budget, SpendEntry
from governance.models import ModelVersion
from portfolio.models import Initiative, Measurement
from tests import factories as f

pytestmark = pytest.mark.django_db


def _detail(name, pk):
    return reverse(f"v1:{name}-detail", args=[pk])


def test_update_with_current_etag_succeeds_and_stale_etag_gets_412(lead_a, initiative_a, api):
    client = api(lead_a)
    url = _detail("initiative", initiative_a.pk)
    etag = client.get(url)["ETag"]
    first = client.patch(url, {"name": "Renamed"}, format="json", HTTP_IF_MATCH=etag)
    assert first.status_code == 200
    assert first["ETag"] != etag
    stale = client.patch(url, {"name": "Overwritten"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    assert Initiative.objects.get(pk=initiative_a.pk).name == "Renamed"


def test_viewer_gets_403_on_a_record_they_can_see(viewer_a, initiative_a, api):
    client = api(viewer_a)
    url = _detail("initiative", initiative_a.pk)
    assert client.get(url).status_code == 200
    response = client.patch(url, {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_moving_an_initiative_to_another_unit_is_a_field_error(lead_a, initiative_a, unit_b, api):
    response = api(lead_a).patch(
        _detail("initiative", initiative_a.pk), {"business_unit": unit_b.pk}, format="json"
    )
    assert response.status_code == 400
    assert "business_unit" in response.json()["fields"]
    assert (
        Initiative.objects.get(pk=initiative_a.pk).business_unit_id == initiative_a.business_unit_id
    )


def test_writes_are_rate_limited_per_user_whatever_the_token(
    lead_a, initiative_a, token_client, settings
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_write": "2/min"},
    }
    from django.core.cache import cache

    cache.clear()
    client = token_client(lead_a)
    url = _detail("initiative", initiative_a.pk)
    codes = [client.patch(url, {"summary": str(i)}, format="json").status_code for i in range(3)]
    assert codes == [200, 200, 429]
    assert client.get(url).status_code == 200  # reads are not limited
    other = token_client(lead_a)  # a new token does not reset the user's budget
    assert other.patch(url, {"summary": "x"}, format="json").status_code == 429
    cache.clear()


def test_measurement_posted_twice_for_a_day_corrects_it(lead_a, initiative_a, api):
    kpi = f.KPIFactory(initiative=initiative_a)
    client = api(lead_a)
    body = {"kpi": kpi.pk, "measured_on": "2026-11-01", "value": "10"}
    assert client.post(reverse("v1:measurement-list"), body, format="json").status_code == 201
    body["value"] = "12"
    assert client.post(reverse("v1:measurement-list"), body, format="json").status_code == 201
    assert Measurement.objects.get(kpi=kpi).value == Decimal("12")


def test_model_version_creator_cannot_promote_it_but_someone_else_can(
    lead_a, coe, initiative_a, api
):
    system = f.AISystemFactory(initiative=initiative_a)
    created = api(lead_a).post(
        reverse("v1:modelversion-list"), {"ai_system": system.pk, "version": "2.0"}, format="json"
    )
    assert created.status_code == 201
    assert created.json()["created_by"] == lead_a.pk
    promote = reverse("v1:modelversion-promote", args=[created.json()["id"]])
    refused = api(lead_a).post(promote)
    assert refused.status_code == 403
    assert refused.json()["code"] == "separation_of_duties"
    done = api(coe).post(promote)
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "production"
    assert ModelVersion.objects.get(pk=created.json()["id"]).approved_by == coe


def test_unit_member_may_register_but_not_promote(member_a, initiative_a, api):
    version = f.ModelVersionFactory(ai_system=f.AISystemFactory(initiative=initiative_a))
    response = api(member_a).post(reverse("v1:modelversion-promote", args=[version.pk]))
    assert response.status_code == 403
    assert ModelVersion.objects.get(pk=version.pk).status == "development"


def test_other_unit_lead_cannot_promote_unit_a_version(lead_b, initiative_a, api):
    version = f.ModelVersionFactory(ai_system=f.AISystemFactory(initiative=initiative_a))
    response = api(lead_b).post(reverse("v1:modelversion-promote", args=[version.pk]))
    assert response.status_code == 404


def test_budget_request_then_finance_approves_and_requester_cannot(
    lead_a, finance, initiative_a, api
):
    body = {
        "initiative": initiative_a.pk,
        "fiscal_year": 2027,
        "kind": "operational",
        "category": "compute",
        "amount": "5000.00",
        "currency": "USD",
    }
    created = api(lead_a).post(reverse("v1:budget-list"), body, format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    assert api(lead_a).post(reverse("v1:budget-approve", args=[pk])).status_code == 403
    approved = api(finance).post(reverse("v1:budget-approve", args=[pk]), {"note": "ok"})
    assert approved.status_code == 200
    assert Budget.objects.get(pk=pk).status == "approved"


def test_budget_reject_needs_a_note(lead_a, finance, initiative_a, api):
    budget = f.BudgetFactory(initiative=initiative_a, requested_by=lead_a)
    response = api(finance).post(reverse("v1:budget-reject", args=[budget.pk]), {"note": ""})
    assert response.status_code == 400
    assert "note" in response.json()["fields"]
    assert Budget.objects.get(pk=budget.pk).status == "requested"


def _rows(initiative, n, **overrides):
    return [
        {
            "reference": f"R-{i}",
            "initiative": initiative.pk,
            "posted_on": "2026-10-01",
            "kind": "operational",
            "category": "compute",
            "amount": "10.00",
            "currency": "USD",
            **overrides,
        }
        for i in range(n)
    ]


def test_spend_bulk_is_idempotent_on_reference(lead_a, initiative_a, api):
    client = api(lead_a)
    url = reverse("v1:spendentry-bulk")
    first = client.post(url, {"source": "erp", "rows": _rows(initiative_a, 20)}, format="json")
    assert first.json() == {"created": 20, "updated": 0, "unchanged": 0}
    again = client.post(url, {"source": "erp", "rows": _rows(initiative_a, 20)}, format="json")
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 20}
    changed = client.post(
        url, {"source": "erp", "rows": _rows(initiative_a, 1, amount="11.00")}, format="json"
    )
    assert changed.json()["updated"] == 1
    assert SpendEntry.objects.filter(source="erp").count() == 20


def test_spend_bulk_with_a_bad_row_names_it_and_writes_nothing(lead_a, initiative_a, api):
    rows = _rows(initiative_a, 3)
    rows[2]["posted_on"] = "not a date"
    response = api(lead_a).post(
        reverse("v1:spendentry-bulk"), {"source": "erp", "rows": rows}, format="json"
    )
    assert response.status_code == 400
    assert "rows.2.posted_on" in response.json()["fields"], response.json()
    assert not SpendEntry.objects.exists()


def test_spend_bulk_for_another_units_initiative_is_refused(lead_b, initiative_a, api):
    response = api(lead_b).post(
        reverse("v1:spendentry-bulk"),
        {"source": "erp", "rows": _rows(initiative_a, 1)},
        format="json",
    )
    assert response.status_code == 400
    assert not SpendEntry.objects.exists()


def test_gate_decision_through_the_api_needs_an_open_review_and_another_decider(
    member_a, lead_a, initiative_a, api
):
    body = {"initiative": initiative_a.pk, "decision": "hold", "rationale": "Need data."}
    none_open = api(lead_a).post(reverse("v1:stagetransition-list"), body, format="json")
    assert none_open.status_code == 400
    assert "initiative" in none_open.json()["fields"]
    requested = api(lead_a).post(
        reverse("v1:gatereview-list"), {"initiative": initiative_a.pk}, format="json"
    )
    assert requested.status_code == 201, requested.json()
    own = api(lead_a).post(reverse("v1:stagetransition-list"), body, format="json")
    assert own.status_code == 403
    assert own.json()["code"] == "separation_of_duties"


def test_member_cannot_decide_gates(member_a, initiative_a, api):
    body = {"initiative": initiative_a.pk, "decision": "hold", "rationale": "x"}
    assert (
        api(member_a).post(reverse("v1:stagetransition-list"), body, format="json").status_code
        == 403
    )


def test_audit_events_are_scoped_to_visible_units(lead_a, lead_b, auditor, unit_a, api):
    client = api(lead_a)
    created = client.post(
        reverse("v1:initiative-list"),
        {"code": "AUD-1", "name": "Audited", "business_unit": unit_a.pk},
        format="json",
    )
    pk = str(created.json()["id"])
    url = reverse("v1:auditevent-list")
    params = {"model": "portfolio.InitiativeEvent", "object_id": pk}
    mine = client.get(url, params).json()
    assert mine["count"] >= 1
    assert mine["results"][0]["user"] == lead_a.pk
    assert api(lead_b).get(url, params).json()["count"] == 0
    assert api(auditor).get(url, params).json()["count"] == mine["count"]


def test_rollups_answer_for_the_callers_scope_and_404_for_other_units(
    lead_a, lead_b, unit_a, initiative_a, initiative_b, api
):
    funnel = api(lead_a).get(reverse("v1:rollup-stage-funnel")).json()
    assert {row["stage"]: row["count"] for row in funnel}["proof_of_concept"] == 1
    for name in ("rollup-stage-funnel", "rollup-budget-vs-actual", "rollup-value"):
        assert (
            api(lead_b).get(reverse(f"v1:{name}"), {"business_unit": unit_a.pk}).status_code == 404
        )
        assert (
            api(lead_a).get(reverse(f"v1:{name}"), {"business_unit": unit_a.pk}).status_code == 200
        )
    bad = api(lead_a).get(reverse("v1:rollup-budget-vs-actual"), {"group_by": "planet"})
    assert bad.status_code == 400 and "group_by" in bad.json()["fields"]


def test_list_page_size_is_capped(lead_a, unit_a, api):
    f.InitiativeFactory.create_batch(3, business_unit=unit_a)
    response = api(lead_a).get(reverse("v1:initiative-list"), {"limit": 100000})
    assert response.status_code == 200
    assert "limit=500" in (response.json()["next"] or "limit=500")


def test_filters_and_ordering(lead_a, unit_a, api):
    f.InitiativeFactory(business_unit=unit_a, code="Z-1", stage="initial_production")
    f.InitiativeFactory(business_unit=unit_a, code="A-1")
    client = api(lead_a)
    rows = client.get(reverse("v1:initiative-list"), {"stage": "initial_production"}).json()
    assert [r["code"] for r in rows["results"]] == ["Z-1"]
    ordered = client.get(reverse("v1:initiative-list"), {"ordering": "-code"}).json()["results"]
    assert ordered[0]["code"] == "Z-1"


def test_incident_reported_through_the_service_records_the_reporter(lead_a, initiative_a, api):
    response = api(lead_a).post(
        reverse("v1:incident-list"),
        {
            "initiative": initiative_a.pk,
            "title": "Drift",
            "severity": "low",
            "detected_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["reported_by"] == lead_a.pk
    assert response.json()["timeline"]


def test_access_review_item_decided_by_the_reviewer_not_by_the_person_reviewed(
    lead_a, member_a, unit_a, api
):
    from people.models import UnitMembership

    review = f.AccessReviewFactory(business_unit=unit_a, reviewer=lead_a)
    membership = UnitMembership.objects.get(user=member_a, business_unit=unit_a)
    item = f.AccessReviewItemFactory(review=review, user=member_a, membership=membership)
    url = reverse("v1:accessreviewitem-decide", args=[item.pk])
    bad = api(lead_a).post(url, {"decision": "maybe"}, format="json")
    assert bad.status_code == 400 and "decision" in bad.json()["fields"]
    done = api(lead_a).post(url, {"decision": "keep", "note": "Still needed."}, format="json")
    assert done.status_code == 200, done.json()
    assert done.json()["decision"] == "keep"


def test_incident_progress_appends_to_the_timeline(lead_a, initiative_a, api):
    incident = f.IncidentFactory(initiative=initiative_a, timeline=[])
    response = api(lead_a).post(
        reverse("v1:incident-progress", args=[incident.pk]),
        {"status": "investigating", "note": "Looking at drift."},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "investigating"
    events = [entry["event"] for entry in response.json()["timeline"]]
    assert "Looking at drift." in events and len(events) >= 1
