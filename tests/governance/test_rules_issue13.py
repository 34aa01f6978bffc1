"""Issue 13: the rules hold on every path (service, web form, API, admin, import, task).

Risk tier from assessments only; attestations in the actor's own name with real dates;
fairness audits judged by the latest audit of the live version; waivers register and
co-signature; rechecks after a gate passed; imported controls scoped to their source;
incident escalation; model version roll back; gate separation of duties over the review's
life; owners from the initiative's reach; dates and KPI targets that can be true."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from governance import checks
from governance.models import (
    Control,
    ControlAttestation,
    CriterionLapse,
    FairnessAudit,
    GateReview,
    Incident,
    ModelVersion,
    RiskAssessment,
    Waiver,
)
from governance.selectors import missing_controls
from governance.services import (
    gate_criteria_recheck,
    gate_decide,
    incident_acknowledge,
    incident_report,
    incidents_escalate,
    model_rollback_decide,
    model_rollback_request,
    model_version_promote,
    risk_assessment_record,
    version_in_production,
    waiver_cosign,
    waiver_propose,
)
from people.errors import SeparationOfDutiesError
from people.models import Notification
from portfolio.models import KPI, Assignment, Initiative
from tests import factories as f

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def api():
    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


# --- Risk tier ---------------------------------------------------------------------------


def test_the_tier_is_not_a_field_of_the_initiative_api_form_or_admin(initiative_a, lead_a, api):
    from django.contrib import admin

    response = api(lead_a).patch(
        f"/api/v1/initiatives/{initiative_a.pk}/", {"risk_tier": "minimal"}, format="json"
    )
    assert response.status_code == 200
    initiative_a.refresh_from_db()
    assert initiative_a.risk_tier == "unassessed"
    from portfolio.forms import InitiativeForm

    assert "risk_tier" not in InitiativeForm.base_fields
    model_admin = admin.site._registry[Initiative]
    assert "risk_tier" in model_admin.get_readonly_fields(None, initiative_a)


def _assess(user, initiative, tier):
    return risk_assessment_record(
        acting_user=user,
        initiative=initiative,
        eu_tier=tier,
        us_high_impact=tier == "high",
        us_justification="Reviewed.",
    )


def test_a_lower_tier_needs_someone_outside_the_team(initiative_a, lead_a, pmo, coe):
    _assess(lead_a, initiative_a, "high")
    with pytest.raises(PermissionDenied, match="outside"):
        _assess(lead_a, initiative_a, "minimal")
    initiative_a.refresh_from_db()
    assert initiative_a.risk_tier == "high"
    ra = _assess(pmo, initiative_a, "limited")
    assert "Lowers the tier from high to limited" in ra.notes
    assert ra.assessor == pmo
    initiative_a.refresh_from_db()
    assert initiative_a.risk_tier == "limited"
    # Raising it again is the team's call; lowering by a CoE member is fine too.
    _assess(lead_a, initiative_a, "high")
    _assess(coe, initiative_a, "minimal")


def test_a_coe_member_on_the_team_cannot_lower_it(initiative_a, lead_a, coe):
    _assess(lead_a, initiative_a, "high")
    f.AssignmentFactory(initiative=initiative_a, role=Assignment.Role.COE_SPONSOR, user=coe)
    with pytest.raises(PermissionDenied, match="team"):
        _assess(coe, initiative_a, "minimal")


def test_a_lower_tier_through_the_api_is_refused_to_the_unit_lead(initiative_a, lead_a, api):
    _assess(lead_a, initiative_a, "high")
    response = api(lead_a).post(
        "/api/v1/risk-assessments/",
        {"initiative": initiative_a.pk, "eu_tier": "minimal", "us_high_impact": None},
        format="json",
    )
    assert response.status_code == 403
    assert RiskAssessment.objects.filter(initiative=initiative_a).count() == 1


# --- Attestations --------------------------------------------------------------------------


def test_api_attestation_is_in_the_callers_name_and_dates_must_be_true(
    initiative_a, member_a, pmo, api
):
    control = f.ControlFactory(validity_days=180, max_backdate_days=30)
    client = api(member_a)
    body = {
        "initiative": initiative_a.pk,
        "control": control.pk,
        "status": "attested",
        "evidence": "Runbook v3.",
        "attested_by": pmo.pk,
        "attested_on": "2020-01-01",
    }
    response = client.post("/api/v1/attestations/", body, format="json")
    assert response.status_code == 400
    assert "attested_on" in response.json()["fields"]
    future = (TODAY + dt.timedelta(days=3)).isoformat()
    response = client.post("/api/v1/attestations/", {**body, "attested_on": future}, format="json")
    assert response.status_code == 400 and "attested_on" in response.json()["fields"]
    response = client.post(
        "/api/v1/attestations/",
        {**body, "attested_on": (TODAY - dt.timedelta(days=10)).isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.content
    att = ControlAttestation.objects.get(pk=response.json()["id"])
    assert att.attested_by == member_a  # never the PMO named in the body
    assert att.expires_on == TODAY - dt.timedelta(days=10) + dt.timedelta(days=180)
    too_late = (TODAY + dt.timedelta(days=400)).isoformat()
    response = client.patch(
        f"/api/v1/attestations/{att.pk}/", {"expires_on": too_late}, format="json"
    )
    assert response.status_code == 400 and "expires_on" in response.json()["fields"]


def test_web_attestation_is_in_the_users_name_with_true_dates(initiative_a, member_a, client):
    control = f.ControlFactory(validity_days=90)
    client.force_login(member_a)
    url = reverse("governance:attestation_create")
    body = {
        "initiative": initiative_a.pk,
        "control": control.pk,
        "status": "attested",
        "evidence": "Signed.",
        "attested_on": (TODAY + dt.timedelta(days=1)).isoformat(),
    }
    response = client.post(url, body)
    assert response.status_code == 200 and not ControlAttestation.objects.exists()
    response = client.post(url, {**body, "attested_on": ""})
    assert response.status_code == 302
    att = ControlAttestation.objects.get()
    assert (att.attested_by, att.attested_on, att.expires_on) == (
        member_a,
        TODAY,
        TODAY + dt.timedelta(days=90),
    )


def test_every_attested_control_gets_an_expiry_whatever_writes_it(initiative_a):
    control = f.ControlFactory(validity_days=30)
    ControlAttestation.objects.bulk_create(
        [
            ControlAttestation(
                initiative=initiative_a,
                business_unit=initiative_a.business_unit,
                control=control,
                status="attested",
                evidence="Imported.",
                attested_on=TODAY - dt.timedelta(days=40),
            )
        ]
    )
    att = ControlAttestation.objects.get()
    assert att.expires_on == TODAY - dt.timedelta(days=10)
    # ... so it lapses and the controls rule sees it.
    assert missing_controls(initiative=initiative_a, target_stage="initial_production") == [control]


# --- Fairness audits -----------------------------------------------------------------------


def _live_version(initiative, status="production"):
    system = f.AISystemFactory(initiative=initiative)
    return f.ModelVersionFactory(ai_system=system, status=status, approved_by=f.UserFactory())


def test_the_latest_audit_of_the_production_version_decides(initiative_a):
    version = _live_version(initiative_a)
    f.FairnessAuditFactory(
        initiative=initiative_a,
        model_version=version,
        result="pass",
        audited_on=dt.date(2026, 6, 1),
    )
    rule = lambda: checks.evaluate_rules(  # noqa: E731
        initiative_a.pk, "initial_production", ["fairness_audit_passed"]
    )["fairness_audit_passed"]
    assert rule() is True
    f.FairnessAuditFactory(
        initiative=initiative_a,
        model_version=version,
        result="fail",
        audited_on=dt.date(2026, 11, 1),
        remediation_plan="Reweight.",
    )
    assert rule() is False
    # A pass on another (development) version does not count for the live one.
    other = f.ModelVersionFactory(ai_system=version.ai_system, status="development")
    f.FairnessAuditFactory(
        initiative=initiative_a,
        model_version=other,
        result="pass",
        audited_on=dt.date(2026, 11, 20),
    )
    assert rule() is False
    f.FairnessAuditFactory(
        initiative=initiative_a,
        model_version=version,
        result="pass",
        audited_on=dt.date(2026, 11, 25),
    )
    assert rule() is True


def test_a_high_risk_audit_is_recorded_outside_the_team(initiative_a, lead_a, pmo, api):
    Initiative.objects.filter(pk=initiative_a.pk).update(risk_tier="high")
    body = {"initiative": initiative_a.pk, "result": "pass", "audited_on": TODAY.isoformat()}
    assert api(lead_a).post("/api/v1/fairness-audits/", body, format="json").status_code == 403
    response = api(pmo).post(
        "/api/v1/fairness-audits/", {**body, "auditor": lead_a.pk}, format="json"
    )
    assert response.status_code == 201, response.content
    assert FairnessAudit.objects.get().auditor == pmo


# --- Waivers ------------------------------------------------------------------------------


def _high_risk_review(initiative, requested_by):
    Initiative.objects.filter(pk=initiative.pk).update(risk_tier="high")
    from governance.services import gate_checklist_refresh

    std = f.StandardFactory(target_stage="initial_production", mandatory=True)
    review = f.GateReviewFactory(initiative=initiative, requested_by=requested_by)
    gate_checklist_refresh(review=review)  # the snapshot a request writes
    return review, std


def test_high_risk_mandatory_waiver_needs_pmo_or_coe_cosign(initiative_a, lead_a, member_a, pmo):
    review, std = _high_risk_review(initiative_a, member_a)
    expires = TODAY + dt.timedelta(days=30)
    with pytest.raises(ValidationError, match="co-signature"):
        gate_decide(
            acting_user=lead_a,
            review=review,
            decision="advance",
            rationale="Ship it.",
            waivers={std.pk: {"reason": "Booked.", "expires_on": expires}},
        )
    waiver = waiver_propose(
        acting_user=member_a, review=review, standard=std, reason="Booked.", expires_on=expires
    )
    with pytest.raises(ValidationError, match="awaits"):
        gate_decide(acting_user=lead_a, review=review, decision="advance", rationale="Ship it.")
    for unit_person in (member_a, lead_a):  # the unit alone cannot co-sign
        with pytest.raises(PermissionDenied):
            waiver_cosign(acting_user=unit_person, waiver=waiver)
    waiver_cosign(acting_user=pmo, waiver=waiver)
    gate_decide(acting_user=lead_a, review=review, decision="advance", rationale="Ship it.")
    initiative_a.refresh_from_db()
    assert initiative_a.stage == "initial_production"


def test_the_proposer_of_a_waiver_does_not_co_sign_it(initiative_a, member_a, pmo, coe):
    review, std = _high_risk_review(initiative_a, member_a)
    waiver = waiver_propose(
        acting_user=pmo,
        review=review,
        standard=std,
        reason="Booked.",
        expires_on=TODAY + dt.timedelta(days=9),
    )
    with pytest.raises(SeparationOfDutiesError):
        waiver_cosign(acting_user=pmo, waiver=waiver)
    assert waiver_cosign(acting_user=coe, waiver=waiver).co_signed_by == coe


def test_waivers_register_page_and_api(initiative_a, member_a, pmo, lead_b, api, client):
    review, std = _high_risk_review(initiative_a, member_a)
    response = api(member_a).post(
        "/api/v1/waivers/",
        {
            "review": review.pk,
            "standard": std.pk,
            "reason": "Audit booked.",
            "expires_on": (TODAY + dt.timedelta(days=20)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    waiver_id = response.json()["id"]
    assert response.json()["granted_by"] == member_a.pk
    assert api(pmo).post(f"/api/v1/waivers/{waiver_id}/cosign/").status_code == 200
    assert Waiver.objects.get(pk=waiver_id).co_signed_by == pmo
    assert api(lead_b).get(f"/api/v1/waivers/{waiver_id}/").status_code == 404
    client.force_login(pmo)
    page = client.get(reverse("governance:waiver_list"))
    assert page.status_code == 200 and b"Audit booked." in page.content


# --- Rechecks after a gate passed -----------------------------------------------------------


def _passed_gate(initiative, decider, *, attestation_days=100):
    """An initiative that passed into initial production with a controls criterion met."""
    control = f.ControlFactory(applies_from_stage="initial_production")
    att = f.ControlAttestationFactory(
        initiative=initiative,
        control=control,
        expires_on=TODAY + dt.timedelta(days=attestation_days),
    )
    std = f.StandardFactory(
        code="CTRL", target_stage="initial_production", check_rule="controls_attested"
    )
    review = f.GateReviewFactory(initiative=initiative)
    gate_decide(acting_user=decider, review=review, decision="advance", rationale="Met.")
    return att, std, review


def test_a_lapse_after_the_gate_becomes_a_finding_and_a_governance_gap(initiative_a, lead_a, pmo):
    from governance.findings import lapsed_gate_criteria
    from portfolio.selectors import governance_gaps

    att, std, review = _passed_gate(initiative_a, lead_a)
    assert gate_criteria_recheck()["lapsed"] == 0
    ControlAttestation.objects.filter(pk=att.pk).update(expires_on=TODAY - dt.timedelta(days=1))
    report = gate_criteria_recheck()
    assert report["new"] == 1
    lapse = CriterionLapse.objects.get()
    assert (lapse.initiative, lapse.standard, lapse.resolved_on) == (initiative_a, std, None)
    gaps = governance_gaps(pmo)
    assert [(i.pk, i.lapsed_criteria) for i in gaps] == [(initiative_a.pk, 1)]
    findings = lapsed_gate_criteria(today=TODAY)
    assert findings and "PMO" in findings[0].groups
    # Renewed: the lapse resolves.
    ControlAttestation.objects.filter(pk=att.pk).update(expires_on=TODAY + dt.timedelta(days=9))
    assert gate_criteria_recheck()["resolved"] == 1
    assert not governance_gaps(pmo).exists()


def test_an_expired_waiver_reopens_its_criterion_and_tells_the_team_and_pmo(
    initiative_a, lead_a, pmo
):
    from portfolio.tasks import scan_run

    std = f.StandardFactory(target_stage="initial_production", check_rule="objective_linked")
    review = f.GateReviewFactory(initiative=initiative_a)
    gate_decide(
        acting_user=lead_a,
        review=review,
        decision="advance",
        rationale="Objective next quarter.",
        waivers={
            std.pk: {"reason": "Strategy refresh.", "expires_on": TODAY + dt.timedelta(days=5)}
        },
    )
    assert gate_criteria_recheck(today=TODAY)["lapsed"] == 0
    later = TODAY + dt.timedelta(days=6)
    report = gate_criteria_recheck(today=later)
    assert report["new"] == 1 and report["waivers_expired"] == 1
    assert "waiver expired" in CriterionLapse.objects.get().reason
    scan_run("gate_criteria_lapsed", today=later, send_email=False)
    told = set(
        Notification.objects.filter(kind="gate_criterion_lapsed").values_list("user_id", flat=True)
    )
    assert {lead_a.pk, pmo.pk} <= told


# --- Imported controls stay where they came from -------------------------------------------


def test_a_control_of_an_import_source_applies_only_to_that_sources_initiatives(
    initiative_a, unit_a, pmo, coe
):
    from portfolio.selectors import governance_gaps

    Initiative.objects.filter(pk=initiative_a.pk).update(
        risk_tier="high", stage="initial_production"
    )
    initiative_a.refresh_from_db()
    imported = f.InitiativeFactory(
        business_unit=unit_a, source="omb-2025", risk_tier="high", stage="initial_production"
    )
    omb = Control.objects.create(code="OMB-MP-1", name="Minimum practice", source="omb-2025")
    assert missing_controls(initiative=initiative_a, target_stage="initial_production") == []
    assert missing_controls(initiative=imported, target_stage="initial_production") == [omb]
    assert list(governance_gaps(pmo)) == [imported]
    rule = checks.evaluate_rules(initiative_a.pk, "initial_production", ["controls_attested"])
    assert rule["controls_attested"] is True
    # Promoting the bank's model is not blocked by the import's controls.
    version = _live_version(initiative_a, status="staging")
    model_version_promote(acting_user=coe, model_version=version)


def test_seeded_standards_cover_all_eight_dimensions_at_the_institutional_gate():
    from django.core.management import call_command

    from governance.models import Standard
    from portfolio.choices import Dimension

    call_command("seed_standards", verbosity=0)
    dims = set(
        Standard.objects.filter(target_stage="institutional").values_list("dimension", flat=True)
    )
    assert dims == set(Dimension.values)
    assert not Control.objects.exclude(source="").exists()


# --- Incidents -----------------------------------------------------------------------------


def _production_initiative(initiative, operator):
    Initiative.objects.filter(pk=initiative.pk).update(stage="initial_production")
    initiative.refresh_from_db()
    f.AssignmentFactory(initiative=initiative, role=Assignment.Role.OPERATOR, user=operator)
    return initiative


def test_a_critical_incident_tells_its_escalation_path_at_once(
    initiative_a, member_a, lead_a, django_capture_on_commit_callbacks
):
    operator = f.UserFactory(email="op@example.com")
    _production_initiative(initiative_a, operator)
    with django_capture_on_commit_callbacks(execute=True):
        incident = incident_report(
            acting_user=member_a, initiative=initiative_a, title="Leak", severity="critical"
        )
    told = set(
        Notification.objects.filter(finding_key=f"incident:{incident.pk}:level:1").values_list(
            "user_id", flat=True
        )
    )
    assert {operator.pk, lead_a.pk} <= told
    assert any("op@example.com" in m.to for m in mail.outbox)


def test_unacknowledged_incidents_escalate_one_level_per_window(
    initiative_a, member_a, lead_a, pmo, django_capture_on_commit_callbacks
):
    _production_initiative(initiative_a, f.UserFactory())
    with django_capture_on_commit_callbacks(execute=True):
        incident = incident_report(
            acting_user=member_a, initiative=initiative_a, title="Drift", severity="high"
        )
        quiet = incident_report(
            acting_user=member_a, initiative=initiative_a, title="Bias", severity="high"
        )
    incident_acknowledge(acting_user=lead_a, incident=quiet)
    assert incidents_escalate()["escalated"] == 0
    assert incidents_escalate(now=timezone.now() + dt.timedelta(hours=5))["escalated"] == 1
    incident.refresh_from_db()
    assert incident.escalation_level == 2
    assert Notification.objects.filter(
        user=pmo, finding_key=f"incident:{incident.pk}:level:2"
    ).exists()
    assert Incident.objects.get(pk=quiet.pk).escalation_level == 1


def test_acknowledging_through_the_api(initiative_a, member_a, lead_a, lead_b, api):
    incident = f.IncidentFactory(initiative=initiative_a, severity="critical")
    assert api(lead_b).post(f"/api/v1/incidents/{incident.pk}/acknowledge/").status_code == 404
    response = api(lead_a).post(f"/api/v1/incidents/{incident.pk}/acknowledge/", {}, format="json")
    assert response.status_code == 200
    assert Incident.objects.get(pk=incident.pk).acknowledged_by == lead_a


# --- Model version roll back -----------------------------------------------------------------


def test_roll_back_is_approved_by_someone_else_and_history_stays_right(
    initiative_a, member_a, lead_a, coe, api
):
    system = f.AISystemFactory(initiative=initiative_a)
    v1 = f.ModelVersionFactory(ai_system=system, version="1.0.0", created_by=member_a)
    v2 = f.ModelVersionFactory(ai_system=system, version="1.1.0", created_by=member_a)
    model_version_promote(acting_user=coe, model_version=v1)
    t1 = timezone.now()
    model_version_promote(acting_user=coe, model_version=v2)
    t2 = timezone.now()
    with pytest.raises(ValidationError, match="retired"):
        model_version_promote(acting_user=coe, model_version=v1)
    with pytest.raises(ValidationError, match="reason"):
        model_rollback_request(acting_user=lead_a, ai_system=system, to_version=v1, reason=" ")
    rb = model_rollback_request(
        acting_user=lead_a, ai_system=system, to_version=v1, reason="1.1.0 drifts."
    )
    with pytest.raises(SeparationOfDutiesError):
        model_rollback_decide(acting_user=lead_a, rollback=rb, approve=True)
    model_rollback_decide(acting_user=coe, rollback=rb, approve=True)
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status) == ("production", "retired")
    assert version_in_production(ai_system=system, at=t1) == v1
    assert version_in_production(ai_system=system, at=t2) == v2
    assert version_in_production(ai_system=system, at=timezone.now()) == v1
    client = api(lead_a)
    url = "/api/v1/model-versions/in-production/"
    response = client.get(url, {"ai_system": system.pk, "at": t2.isoformat()})
    assert response.status_code == 200 and response.json()["version"] == "1.1.0"
    response = client.get(url, {"ai_system": system.pk, "on": TODAY.isoformat()})
    assert response.json()["version"] == "1.0.0"
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    assert client.get(url, {"ai_system": system.pk, "on": yesterday}).status_code == 404


def test_roll_back_through_the_api(initiative_a, member_a, lead_a, coe, api):
    system = f.AISystemFactory(initiative=initiative_a)
    v1 = f.ModelVersionFactory(ai_system=system, version="1.0.0", created_by=member_a)
    v2 = f.ModelVersionFactory(ai_system=system, version="1.1.0", created_by=member_a)
    model_version_promote(acting_user=coe, model_version=v1)
    model_version_promote(acting_user=coe, model_version=v2)
    response = api(lead_a).post(
        "/api/v1/model-rollbacks/",
        {"ai_system": system.pk, "to_version": v1.pk, "reason": "Drift."},
        format="json",
    )
    assert response.status_code == 201, response.content
    rb = response.json()["id"]
    assert api(lead_a).post(f"/api/v1/model-rollbacks/{rb}/approve/").status_code == 403
    assert api(coe).post(f"/api/v1/model-rollbacks/{rb}/approve/").status_code == 200
    assert ModelVersion.objects.get(pk=v1.pk).status == "production"


# --- Gate separation of duties over the review's life ---------------------------------------


def test_handing_the_requirements_owner_role_to_a_colleague_does_not_let_you_decide(
    initiative_a, lead_a, member_a, client
):
    role = f.AssignmentFactory(
        initiative=initiative_a, role=Assignment.Role.REQUIREMENTS_OWNER, user=lead_a
    )
    review = f.GateReviewFactory(initiative=initiative_a, requested_by=member_a)
    role.user = member_a
    role.save()
    with pytest.raises(SeparationOfDutiesError, match="requirements owner"):
        gate_decide(acting_user=lead_a, review=review, decision="hold", rationale="x")
    client.force_login(lead_a)
    response = client.post(
        reverse("governance:gate_decide", args=[review.pk]),
        {"decision": "hold", "rationale": "x"},
    )
    assert response.status_code == 403
    assert GateReview.objects.get(pk=review.pk).status == "open"


# --- Owners, KPIs and dates ---------------------------------------------------------------


def test_the_api_refuses_an_owner_from_another_unit(initiative_a, lead_a, lead_b, api):
    cib_owner = f.UserFactory(username="cib-owner")
    from tests.conftest import _member

    _member(cib_owner, lead_b.unit_memberships.get().business_unit, "member")
    response = api(lead_a).post(
        "/api/v1/assignments/",
        {"initiative": initiative_a.pk, "role": "requirements_owner", "user": cib_owner.pk},
        format="json",
    )
    assert response.status_code == 400 and "user" in response.json()["fields"]
    assert not Assignment.objects.exists()


def _kpi_body(**kw):
    body = {
        "name": "Hours saved",
        "kind": "business",
        "category": "time_saved",
        "unit": "hours",
        "direction": "increase",
        "baseline_value": "100",
        "baseline_date": "2026-01-01",
        "target_value": "200",
        "target_date": "2026-12-31",
        "cadence": "monthly",
    }
    body.update(kw)
    return body


@pytest.mark.parametrize(
    "change,field",
    [
        ({"target_date": "2025-12-01"}, "target_date"),
        ({"target_value": "50"}, "target_value"),
        ({"target_value": "100"}, "target_value"),
        ({"direction": "decrease"}, "target_value"),
        ({"baseline_date": "0001-01-01"}, "baseline_date"),
    ],
)
def test_kpis_that_cannot_be_true_are_refused_by_field(
    change, field, initiative_a, lead_a, api, client
):
    response = api(lead_a).post(
        "/api/v1/kpis/", {**_kpi_body(**change), "initiative": initiative_a.pk}, format="json"
    )
    assert response.status_code == 400 and field in response.json()["fields"], response.content
    client.force_login(lead_a)
    response = client.post(reverse("kpi_create", args=[initiative_a.pk]), _kpi_body(**change))
    assert response.status_code in (200, 400)
    assert field in response.context["form"].errors
    assert not KPI.objects.exists()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_initiative_start_dates_that_cannot_be_true(day, initiative_a, lead_a, api, client):
    response = api(lead_a).patch(
        f"/api/v1/initiatives/{initiative_a.pk}/", {"started_on": day}, format="json"
    )
    assert response.status_code == 400 and "started_on" in response.json()["fields"]
    client.force_login(lead_a)
    response = client.post(
        reverse("initiative_edit", args=[initiative_a.pk]),
        {
            "code": initiative_a.code,
            "name": initiative_a.name,
            "business_unit": initiative_a.business_unit_id,
            "build_or_buy": "buy",
            "integration_depth": "embedded",
            "started_on": day,
        },
    )
    assert "started_on" in response.context["form"].errors
    with pytest.raises(IntegrityError), transaction.atomic():
        Initiative.objects.filter(pk=initiative_a.pk).update(started_on=dt.date(1, 1, 1))


def test_posting_dates_that_cannot_be_true(initiative_a, lead_a, api):
    from finance.services import spend_entry_create

    with pytest.raises(ValidationError, match="too far"):
        spend_entry_create(
            acting_user=lead_a,
            initiative=initiative_a,
            posted_on=dt.date(9999, 12, 31),
            kind="operational",
            category="compute",
            amount=Decimal("10"),
            currency="USD",
        )
    response = api(lead_a).post(
        "/api/v1/spend-entries/bulk/",
        {
            "source": "erp-test",
            "rows": [
                {
                    "posted_on": "9999-12-31",
                    "initiative": initiative_a.code,
                    "kind": "operational",
                    "category": "compute",
                    "amount": "10",
                    "currency": "USD",
                    "reference": "R-1",
                }
            ],
        },
        format="json",
    )
    assert response.status_code == 400
    with pytest.raises(IntegrityError), transaction.atomic():
        f.SpendEntryFactory(initiative=initiative_a, posted_on=dt.date(9999, 12, 31))
