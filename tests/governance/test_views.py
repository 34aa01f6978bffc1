"""Governance pages: scoping on every register (lead_b gets 404 on unit A, the auditor
reads but cannot write), flat query counts on every list, the gate flow through the
web, access review revocation, the audit log and the per-record history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.models import AccessReviewItem, GateReview
from governance.services import access_review_open, gate_review_request
from people.models import UnitMembership
from tests import factories as f
from tests.governance.conftest import satisfy_poc_gate

pytestmark = pytest.mark.django_db


def _make(kind, initiative, creator=None):
    """One record of a register for ``initiative``."""
    if kind == "ai_system":
        return f.AISystemFactory(initiative=initiative)
    if kind == "model_version":
        return f.ModelVersionFactory(ai_system=f.AISystemFactory(initiative=initiative))
    if kind == "risk_assessment":
        return f.RiskAssessmentFactory(initiative=initiative)
    if kind == "attestation":
        return f.ControlAttestationFactory(initiative=initiative)
    if kind == "fairness_audit":
        return f.FairnessAuditFactory(initiative=initiative)
    if kind == "explainability":
        return f.ExplainabilityRecordFactory(initiative=initiative)
    if kind == "incident":
        return f.IncidentFactory(initiative=initiative)
    if kind == "access_review":
        return f.AccessReviewFactory(business_unit=initiative.business_unit)
    if kind == "gate_review":
        return GateReview.objects.create(
            initiative=initiative,
            business_unit=initiative.business_unit,
            from_stage="proof_of_concept",
            target_stage="initial_production",
            requested_by=creator or f.UserFactory(),
            requested_at=timezone.now(),
        )
    raise AssertionError(kind)


KINDS = [
    "ai_system",
    "model_version",
    "risk_assessment",
    "attestation",
    "fairness_audit",
    "explainability",
    "incident",
    "access_review",
    "gate_review",
]


@pytest.mark.parametrize("kind", KINDS)
def test_other_units_lead_gets_404_on_unit_a_records_and_own_lead_sees_them(
    client, kind, initiative_a, lead_a, lead_b
):
    obj = _make(kind, initiative_a)
    url = reverse(f"governance:{kind}_detail", args=[obj.pk])
    client.force_login(lead_b)
    assert client.get(url).status_code == 404
    label = obj._meta.label
    assert client.get(reverse("governance:record_history", args=[label, obj.pk])).status_code == 404
    client.force_login(lead_a)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_list_pages_only_show_the_users_units(client, kind, initiative_a, initiative_b, lead_b):
    a = _make(kind, initiative_a)
    b = _make(kind, initiative_b)
    client.force_login(lead_b)
    response = client.get(reverse(f"governance:{kind}_list"))
    assert response.status_code == 200
    rows = list(response.context["page_obj"].object_list)
    assert b in rows and a not in rows


@pytest.mark.parametrize("kind", KINDS)
def test_list_query_count_is_the_same_for_5_and_50_rows(client, kind, unit_a, lead_a):
    client.force_login(lead_a)
    url = reverse(f"governance:{kind}_list")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    initiatives = [f.InitiativeFactory(business_unit=unit_a) for _ in range(50)]
    for ini in initiatives[:5]:
        _make(kind, ini)
    five = count()
    for ini in initiatives[5:]:
        _make(kind, ini)
    assert count() == five


@pytest.mark.parametrize(
    "name",
    [
        "ai_system_create",
        "model_version_create",
        "risk_assessment_create",
        "attestation_create",
        "fairness_audit_create",
        "explainability_create",
        "incident_create",
        "access_review_create",
    ],
)
def test_auditor_reads_registers_but_cannot_create(client, auditor, initiative_a, name):
    client.force_login(auditor)
    list_name = name.replace("_create", "_list")
    assert client.get(reverse(f"governance:{list_name}")).status_code == 200
    assert client.get(reverse(f"governance:{name}")).status_code == 403
    assert client.post(reverse(f"governance:{name}"), {}).status_code == 403


def test_auditor_cannot_edit_decide_or_promote(client, auditor, initiative_a, lead_a):
    client.force_login(auditor)
    att = _make("attestation", initiative_a)
    assert client.post(reverse("governance:attestation_edit", args=[att.pk]), {}).status_code == 403
    review = _make("gate_review", initiative_a)
    resp = client.post(
        reverse("governance:gate_decide", args=[review.pk]),
        {"decision": "hold", "rationale": "x"},
    )
    assert resp.status_code == 403
    mv = _make("model_version", initiative_a)
    client.post(reverse("governance:model_version_promote", args=[mv.pk]))
    mv.refresh_from_db()
    assert mv.status == "development"


def test_index_shows_blocked_gates_with_reasons_and_stalled(
    client, standards, pmo, initiative_a, member_a
):
    gate_review_request(acting_user=member_a, initiative=initiative_a)
    client.force_login(pmo)
    response = client.get(reverse("governance:index"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Blocked at a gate" in body and initiative_a.code in body
    assert "POC-MEAS-1" in body and "No business KPI" in body


def test_member_takes_the_poc_gate_through_the_pages_and_lead_decides(
    client, standards, initiative_a, member_a, lead_a, owner_a
):
    satisfy_poc_gate(initiative_a, owner=owner_a)
    client.force_login(member_a)
    gate_url = reverse("governance:gate", args=[initiative_a.pk])
    assert client.get(gate_url).status_code == 200
    response = client.post(gate_url, {"note": "Ready for production."})
    review = GateReview.objects.get(initiative=initiative_a)
    assert response.status_code == 302
    for row in review.criteria.filter(check_rule="manual"):
        client.post(
            reverse("governance:gate_evidence", args=[review.pk]),
            {"standard": row.standard_id, "evidence": "Signed plan in the wiki."},
        )
    assert not review.criteria.filter(mandatory=True, met=False).exists()
    # The requester cannot decide; the page says so and the POST is refused.
    detail = client.get(reverse("governance:gate_review_detail", args=[review.pk]))
    assert detail.context["decision_form"] is None
    client.force_login(lead_a)
    response = client.post(
        reverse("governance:gate_decide", args=[review.pk]),
        {"decision": "advance", "rationale": "Every criterion met."},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "initial_production"


def test_advancing_with_a_blocking_criterion_via_the_page_needs_the_waiver_fields(
    client, standards, initiative_a, member_a, lead_a
):
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    client.force_login(lead_a)
    url = reverse("governance:gate_decide", args=[review.pk])
    response = client.post(url, {"decision": "advance", "rationale": "Go."})
    assert response.status_code == 400
    assert "Mandatory criteria unmet" in response.content.decode()
    data = {"decision": "advance", "rationale": "Go."}
    expires = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    for row in review.criteria.filter(mandatory=True, met=False):
        data |= {
            f"waive_{row.standard_id}": "on",
            f"waive_{row.standard_id}_reason": "Agreed with the CRO.",
            f"waive_{row.standard_id}_expires": expires,
        }
    assert client.post(url, data).status_code == 302
    assert review.waivers.count() == review.criteria.filter(mandatory=True, met=False).count()


def test_requester_post_to_decide_is_refused(client, standards, initiative_a, lead_a):
    review = gate_review_request(acting_user=lead_a, initiative=initiative_a)
    client.force_login(lead_a)
    response = client.post(
        reverse("governance:gate_decide", args=[review.pk]),
        {"decision": "hold", "rationale": "x"},
    )
    assert response.status_code == 403


def test_access_review_revocation_through_the_page_removes_access_at_once(
    client, unit_a, lead_a, member_a, pmo
):
    review = access_review_open(
        acting_user=pmo, business_unit=unit_a, reviewer=lead_a, due_on=timezone.localdate()
    )
    item = review.items.get(user=member_a)
    client.force_login(lead_a)
    response = client.post(
        reverse("governance:access_review_item_decide", args=[review.pk, item.pk]),
        {"decision": "revoke", "note": "Moved team."},
    )
    assert response.status_code == 302
    assert not UnitMembership.objects.filter(user=member_a, business_unit=unit_a).exists()
    client.force_login(member_a)
    assert (
        client.get(reverse("governance:access_review_detail", args=[review.pk])).status_code == 404
    )
    own = review.items.get(user=lead_a)
    client.force_login(lead_a)
    client.post(
        reverse("governance:access_review_item_decide", args=[review.pk, own.pk]),
        {"decision": "keep"},
    )
    assert AccessReviewItem.objects.get(pk=own.pk).decision == "pending"


def test_audit_log_is_for_pmo_and_auditors_only(client, pmo, auditor, lead_a, initiative_a):
    url = reverse("governance:audit_log")
    client.force_login(lead_a)
    assert client.get(url).status_code == 403
    for user in (pmo, auditor):
        client.force_login(user)
        assert client.get(url).status_code == 200


def test_audit_log_filters_by_model_user_object_and_date(client, auditor, initiative_a, lead_a):
    from governance.services import incident_report

    incident = incident_report(
        acting_user=lead_a, initiative=initiative_a, title="Outage", severity="low"
    )
    f.IncidentFactory(initiative=initiative_a)  # no acting user
    client.force_login(auditor)
    today = timezone.localdate().isoformat()
    response = client.get(
        reverse("governance:audit_log"),
        {
            "model": "governance.IncidentEvent",
            "user": lead_a.username,
            "object_id": incident.pk,
            "date_from": today,
            "date_to": today,
        },
    )
    assert response.status_code == 200
    events = list(response.context["page"].events)
    assert events and all(e.pgh_obj_id == str(incident.pk) for e in events)
    assert all(e.actor == lead_a for e in events)
    response = client.get(reverse("governance:audit_log"), {"model": "governance.IncidentEvent"})
    assert len(response.context["page"].events) == len(events) + 1


def test_nobody_can_edit_or_delete_the_trail(initiative_a):
    from django.apps import apps
    from django.db import DatabaseError, transaction

    f.IncidentFactory(initiative=initiative_a)
    event_model = apps.get_model("governance", "IncidentEvent")
    with pytest.raises(DatabaseError), transaction.atomic():
        event_model.objects.update(title="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        event_model.objects.all().delete()


def test_history_component_shows_actor_and_field_diffs(client, initiative_a, lead_a, member_a):
    from governance.services import incident_report, incident_update

    incident = incident_report(
        acting_user=member_a, initiative=initiative_a, title="Drift", severity="low"
    )
    incident_update(acting_user=lead_a, incident=incident, status="investigating")
    client.force_login(lead_a)
    response = client.get(reverse("governance:incident_detail", args=[incident.pk]))
    body = response.content.decode()
    assert "History" in body and "investigating" in body
    history = response.context["history"]
    assert history[0].actor == member_a and history[-1].actor == lead_a
    assert ("Status", "Open", "Investigating") in history[-1].changes


def test_which_version_was_in_production_page(client, initiative_a, lead_a):
    system = f.AISystemFactory(initiative=initiative_a)
    client.force_login(lead_a)
    response = client.get(
        reverse("governance:ai_system_detail", args=[system.pk]), {"on": "2026-01-01"}
    )
    assert response.status_code == 200
    assert "no version was in production" in response.content.decode()


def test_lead_records_an_attestation_and_a_risk_assessment_through_forms(
    client, standards, initiative_a, lead_a
):
    from governance.models import Control, ControlAttestation, RiskAssessment

    client.force_login(lead_a)
    control = Control.objects.get(code="CTL-HUMAN")
    response = client.post(
        reverse("governance:attestation_create"),
        {
            "initiative": initiative_a.pk,
            "control": control.pk,
            "status": "attested",
            "evidence": "",
        },
    )
    assert response.status_code == 200 and "needs its evidence" in response.content.decode()
    response = client.post(
        reverse("governance:attestation_create"),
        {
            "initiative": initiative_a.pk,
            "control": control.pk,
            "status": "attested",
            "evidence": "Runbook §4",
        },
    )
    assert response.status_code == 302
    att = ControlAttestation.objects.get(initiative=initiative_a)
    assert att.attested_by == lead_a and att.expires_on > timezone.localdate()
    response = client.post(
        reverse("governance:risk_assessment_create"),
        {
            "initiative": initiative_a.pk,
            "eu_tier": "high",
            "us_high_impact": "true",
            "us_justification": "Credit decisions.",
        },
    )
    assert response.status_code == 302
    assert RiskAssessment.objects.get(initiative=initiative_a).eu_tier == "high"


def test_lead_b_cannot_pick_unit_a_initiatives_in_forms(client, initiative_a, initiative_b, lead_b):
    client.force_login(lead_b)
    response = client.post(
        reverse("governance:incident_create"),
        {"initiative": initiative_a.pk, "title": "x", "severity": "low", "escalation_level": 1},
    )
    assert response.status_code == 200
    assert "initiative" in response.context["form"].errors


def test_audit_log_query_count_is_the_same_for_5_and_50_changes(client, auditor, initiative_a):
    client.force_login(auditor)
    url = reverse("governance:audit_log")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    for _ in range(5):
        f.IncidentFactory(initiative=initiative_a)
    five = count()
    for _ in range(45):
        f.RiskAssessmentFactory(initiative=initiative_a)
    assert count() == five


def test_promote_page_refuses_without_controls_then_promotes(
    client, standards, initiative_a, lead_a, member_a
):
    from governance.models import Control

    initiative_a.risk_tier = "high"
    initiative_a.save()
    mv = f.ModelVersionFactory(
        ai_system=f.AISystemFactory(initiative=initiative_a), created_by=member_a
    )
    client.force_login(lead_a)
    detail = client.get(reverse("governance:model_version_detail", args=[mv.pk]))
    assert detail.context["can_promote"] and detail.context["missing_controls"]
    client.post(reverse("governance:model_version_promote", args=[mv.pk]))
    mv.refresh_from_db()
    assert mv.status == "development"
    for control in Control.objects.filter(applies_to_tiers__contains=["high"]):
        f.ControlAttestationFactory(initiative=initiative_a, control=control)
    client.post(reverse("governance:model_version_promote", args=[mv.pk]))
    mv.refresh_from_db()
    assert mv.status == "production" and mv.approved_by == lead_a


def test_severe_incident_reported_through_the_page_asks_for_a_gate_decision(
    client, initiative_a, member_a
):
    initiative_a.stage = "initial_production"
    initiative_a.save()
    client.force_login(member_a)
    response = client.post(
        reverse("governance:incident_create"),
        {
            "initiative": initiative_a.pk,
            "title": "Wrong denials",
            "severity": "critical",
            "escalation_level": 2,
        },
    )
    assert response.status_code == 302
    review = GateReview.objects.get(initiative=initiative_a)
    assert review.reason == "incident"
    page = client.get(reverse("governance:gate_review_detail", args=[review.pk]))
    assert page.status_code == 200


def test_stalled_page_is_scoped_has_flat_queries_and_asks_for_decisions(
    client, unit_a, unit_b, lead_a, lead_b
):
    old = timezone.now() - dt.timedelta(days=400)

    def stalled(unit, n):
        return [f.InitiativeFactory(business_unit=unit, stage_entered_at=old) for _ in range(n)]

    mine = stalled(unit_a, 5)
    theirs = stalled(unit_b, 1)
    client.force_login(lead_a)
    url = reverse("governance:stalled_list")
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    rows = list(response.context["page_obj"].object_list)
    assert set(rows) == set(mine) and theirs[0] not in rows and all(r.can_ask for r in rows)
    five = len(ctx.captured_queries)
    stalled(unit_a, 45)
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    assert len(ctx.captured_queries) == five
    response = client.post(reverse("governance:gate_stall_review", args=[mine[0].pk]))
    assert response.status_code == 302
    assert GateReview.objects.get(initiative=mine[0]).reason == "stalled"
    client.force_login(lead_b)
    assert (
        client.post(reverse("governance:gate_stall_review", args=[mine[1].pk])).status_code == 404
    )
