"""One row per API resource: how to make a record in a unit, a valid body to create
one, bad bodies, and who may write. ``test_scoping.py`` runs every check over this
table, and a meta-test fails if a router entry has no row here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from finance.models import Budget, FocusLine, SpendEntry
from governance.models import (
    AccessReview,
    AccessReviewItem,
    AISystem,
    Control,
    ControlAttestation,
    FairnessAudit,
    GateReview,
    Incident,
    ModelRollback,
    ModelVersion,
    RiskAssessment,
    Waiver,
)
from people.models import BusinessUnit, CenterOfExcellence, UnitMembership
from portfolio.models import (
    KPI,
    AdoptionSnapshot,
    Assignment,
    Initiative,
    Measurement,
    Objective,
    StageTransition,
)
from tests import factories as f


def _initiative(unit):
    return f.InitiativeFactory(business_unit=unit)


def _gate_review(unit, initiative=None, requested_by=None):
    initiative = initiative or _initiative(unit)
    return GateReview.objects.create(
        initiative=initiative,
        business_unit=initiative.business_unit,
        from_stage=initiative.stage,
        target_stage="initial_production",
        requested_by=requested_by or f.UserFactory(),
        requested_at=timezone.now(),
    )


def _waiver_body(review):
    row = f.GateCriterionResultFactory(review=review, mandatory=True, met=False)
    return {
        "review": review.pk,
        "standard": row.standard_id,
        "reason": "Audit booked for next month.",
        "expires_on": (timezone.localdate() + dt.timedelta(days=30)).isoformat(),
    }


def _versions(system):
    """An earlier version that was in production, and the one in production now."""
    now = timezone.now()
    approver = f.UserFactory()
    old = f.ModelVersionFactory(
        ai_system=system,
        status="retired",
        approved_by=approver,
        deployed_at=now - dt.timedelta(days=20),
        retired_at=now - dt.timedelta(days=5),
    )
    current = f.ModelVersionFactory(
        ai_system=system,
        status="production",
        approved_by=approver,
        deployed_at=now - dt.timedelta(days=5),
    )
    return old, current


def _rollback_body(system):
    old, _ = _versions(system)
    return {"ai_system": system.pk, "to_version": old.pk, "reason": "Drift since 1.1."}


def _rollback(unit):
    system = f.AISystemFactory(initiative=_initiative(unit))
    old, current = _versions(system)
    return ModelRollback.objects.create(
        ai_system=system,
        business_unit=unit,
        from_version=current,
        to_version=old,
        reason="Drift.",
        requested_by=f.UserFactory(),
        requested_at=timezone.now(),
    )


@dataclass
class Case:
    basename: str
    model: Any
    make: Callable  # (unit) -> a record in that unit
    scoped: bool = True  # False: organisation-wide, visible to every signed-in user
    writer: str | None = "lead_a"  # who may create; None: read-only resource
    create: Callable | None = None  # (ctx) -> a valid body
    bad_create: Callable | None = None  # (ctx) -> (body, the field named in the error)
    cross_create: Callable | None = None  # (ctx) -> (body linking unit B, field)
    bad_patch: tuple[dict, str] | None = None  # (body, field) for resources with PATCH
    create_action: str = "list"  # the route POSTed to ("bulk" for spend)
    extra: dict = field(default_factory=dict)


CASES: list[Case] = [
    Case("businessunit", BusinessUnit, lambda u: f.BusinessUnitFactory(parent=u), writer=None),
    Case(
        "coe",
        CenterOfExcellence,
        lambda u: f.CenterOfExcellenceFactory(),
        scoped=False,
        writer=None,
    ),
    Case(
        "membership",
        UnitMembership,
        lambda u: UnitMembership.objects.create(user=f.UserFactory(), business_unit=u),
        writer=None,
    ),
    Case(
        "initiative",
        Initiative,
        _initiative,
        create=lambda c: {"code": "NEW-1", "name": "New one", "business_unit": c.unit_a.pk},
        bad_create=lambda c: ({"code": "", "name": "x", "business_unit": c.unit_a.pk}, "code"),
        cross_create=lambda c: (
            {"code": "NEW-2", "name": "x", "business_unit": c.unit_b.pk},
            "business_unit",
        ),
        bad_patch=({"status": "bogus"}, "status"),
    ),
    Case(
        "assignment",
        Assignment,
        lambda u: f.AssignmentFactory(initiative=_initiative(u)),
        create=lambda c: {
            "initiative": c.initiative_a.pk,
            "role": "operator",
            "user": c.member_a.pk,
        },
        bad_create=lambda c: (
            {"initiative": c.initiative_a.pk, "role": "bogus", "user": c.member_a.pk},
            "role",
        ),
        cross_create=lambda c: (
            {"initiative": c.initiative_b.pk, "role": "operator", "user": c.member_a.pk},
            "initiative",
        ),
        bad_patch=({"role": "bogus"}, "role"),
    ),
    Case(
        "objective",
        Objective,
        lambda u: f.ObjectiveFactory(),
        scoped=False,
        writer="pmo",
        create=lambda c: {"code": "OBJ-NEW", "name": "Grow"},
        bad_create=lambda c: ({"code": "", "name": "Grow"}, "code"),
        bad_patch=({"fiscal_year": -1}, "fiscal_year"),
    ),
    Case(
        "kpi",
        KPI,
        lambda u: f.KPIFactory(initiative=_initiative(u)),
        create=lambda c: {
            "initiative": c.initiative_a.pk,
            "name": "Hours saved",
            "kind": "business",
            "unit": "hours",
        },
        bad_create=lambda c: (
            {"initiative": c.initiative_a.pk, "name": "x", "kind": "bogus", "unit": "h"},
            "kind",
        ),
        cross_create=lambda c: (
            {"initiative": c.initiative_b.pk, "name": "x", "kind": "business", "unit": "h"},
            "initiative",
        ),
        bad_patch=({"kind": "bogus"}, "kind"),
    ),
    Case(
        "measurement",
        Measurement,
        lambda u: f.MeasurementFactory(kpi=f.KPIFactory(initiative=_initiative(u))),
        create=lambda c: {"kpi": c.kpi_a.pk, "measured_on": "2026-11-01", "value": "12.5"},
        bad_create=lambda c: (
            {"kpi": c.kpi_a.pk, "measured_on": "2026-11-01", "value": "x"},
            "value",
        ),
        cross_create=lambda c: (
            {"kpi": c.kpi_b.pk, "measured_on": "2026-11-01", "value": "1"},
            "kpi",
        ),
    ),
    Case(
        "adoptionsnapshot",
        AdoptionSnapshot,
        lambda u: f.AdoptionSnapshotFactory(initiative=_initiative(u)),
        create=lambda c: {
            "initiative": c.initiative_a.pk,
            "as_of": "2026-10-01",
            "eligible_users": 100,
            "active_users": 50,
        },
        bad_create=lambda c: (
            {
                "initiative": c.initiative_a.pk,
                "as_of": "2026-10-01",
                "eligible_users": -1,
                "active_users": 0,
            },
            "eligible_users",
        ),
        cross_create=lambda c: (
            {
                "initiative": c.initiative_b.pk,
                "as_of": "2026-10-01",
                "eligible_users": 1,
                "active_users": 0,
            },
            "initiative",
        ),
        bad_patch=({"as_of": "not-a-date"}, "as_of"),
    ),
    Case(
        "budget",
        Budget,
        lambda u: f.BudgetFactory(initiative=_initiative(u)),
        create=lambda c: {
            "initiative": c.initiative_a.pk,
            "fiscal_year": 2027,
            "kind": "one_time",
            "category": "compute",
            "amount": "1000.00",
            "currency": "USD",
        },
        bad_create=lambda c: (
            {
                "initiative": c.initiative_a.pk,
                "fiscal_year": 2027,
                "kind": "one_time",
                "category": "compute",
                "amount": "1000.00",
                "currency": "XXX",
            },
            "currency",
        ),
        cross_create=lambda c: (
            {
                "initiative": c.initiative_b.pk,
                "fiscal_year": 2027,
                "kind": "one_time",
                "category": "compute",
                "amount": "1.00",
                "currency": "USD",
            },
            "initiative",
        ),
    ),
    Case(
        "spendentry",
        SpendEntry,
        lambda u: f.SpendEntryFactory(initiative=_initiative(u)),
        create_action="bulk",
        create=lambda c: {"source": "erp-test", "rows": [c.spend_row(c.initiative_a)]},
        bad_create=lambda c: (
            {"source": "erp-test", "rows": [c.spend_row(c.initiative_a, amount="abc")]},
            "rows.0.amount",
        ),
        cross_create=lambda c: (
            {"source": "erp-test", "rows": [c.spend_row(c.initiative_b)]},
            "rows.0.initiative",
        ),
    ),
    Case(
        "aisystem",
        AISystem,
        lambda u: f.AISystemFactory(initiative=_initiative(u)),
        create=lambda c: {"initiative": c.initiative_a.pk, "name": "Scorer"},
        bad_create=lambda c: ({"initiative": c.initiative_a.pk, "name": ""}, "name"),
        cross_create=lambda c: ({"initiative": c.initiative_b.pk, "name": "Scorer"}, "initiative"),
        bad_patch=({"name": ""}, "name"),
    ),
    Case(
        "modelversion",
        ModelVersion,
        lambda u: f.ModelVersionFactory(ai_system=f.AISystemFactory(initiative=_initiative(u))),
        create=lambda c: {"ai_system": c.ai_system_a.pk, "version": "9.0.0"},
        bad_create=lambda c: ({"ai_system": c.ai_system_a.pk, "version": ""}, "version"),
        cross_create=lambda c: ({"ai_system": c.ai_system_b.pk, "version": "9.0.0"}, "ai_system"),
        bad_patch=({"status": "production"}, "status"),
    ),
    Case(
        "riskassessment",
        RiskAssessment,
        lambda u: f.RiskAssessmentFactory(initiative=_initiative(u)),
        create=lambda c: {
            "initiative": c.initiative_a.pk,
            "eu_tier": "limited",
            "us_high_impact": False,
            "us_justification": "Advises staff; no rights impact.",
        },
        bad_create=lambda c: ({"initiative": c.initiative_a.pk, "eu_tier": "bogus"}, "eu_tier"),
        cross_create=lambda c: (
            {"initiative": c.initiative_b.pk, "eu_tier": "limited"},
            "initiative",
        ),
    ),
    Case(
        "attestation",
        ControlAttestation,
        lambda u: f.ControlAttestationFactory(initiative=_initiative(u)),
        create=lambda c: {"initiative": c.initiative_a.pk, "control": c.control.pk},
        bad_create=lambda c: (
            {"initiative": c.initiative_a.pk, "control": c.control.pk, "status": "bogus"},
            "status",
        ),
        cross_create=lambda c: (
            {"initiative": c.initiative_b.pk, "control": c.control.pk},
            "initiative",
        ),
        bad_patch=({"status": "bogus"}, "status"),
    ),
    Case(
        "fairnessaudit",
        FairnessAudit,
        lambda u: f.FairnessAuditFactory(initiative=_initiative(u)),
        create=lambda c: {"initiative": c.initiative_a.pk, "result": "pending"},
        bad_create=lambda c: ({"initiative": c.initiative_a.pk, "result": "bogus"}, "result"),
        cross_create=lambda c: ({"initiative": c.initiative_b.pk}, "initiative"),
        bad_patch=({"result": "bogus"}, "result"),
    ),
    Case(
        "incident",
        Incident,
        lambda u: f.IncidentFactory(initiative=_initiative(u)),
        create=lambda c: {"initiative": c.initiative_a.pk, "title": "Drift", "severity": "low"},
        bad_create=lambda c: (
            {"initiative": c.initiative_a.pk, "title": "Drift", "severity": "bogus"},
            "severity",
        ),
        cross_create=lambda c: (
            {"initiative": c.initiative_b.pk, "title": "Drift", "severity": "low"},
            "initiative",
        ),
    ),
    Case(
        "accessreview", AccessReview, lambda u: f.AccessReviewFactory(business_unit=u), writer=None
    ),
    Case(
        "accessreviewitem",
        AccessReviewItem,
        lambda u: f.AccessReviewItemFactory(review=f.AccessReviewFactory(business_unit=u)),
        writer=None,
    ),
    Case(
        "gatereview",
        GateReview,
        lambda u: _gate_review(u),
        create=lambda c: {"initiative": c.initiative_a.pk},
        bad_create=lambda c: (
            {"initiative": c.initiative_a.pk, "target_stage": "bogus"},
            "target_stage",
        ),
        cross_create=lambda c: ({"initiative": c.initiative_b.pk}, "initiative"),
    ),
    Case(
        "stagetransition",
        StageTransition,
        lambda u: f.StageTransitionFactory(initiative=_initiative(u)),
        create=lambda c: {
            "initiative": c.open_review_a.initiative_id,
            "decision": "hold",
            "rationale": "Wait for a quarter of data.",
        },
        bad_create=lambda c: (
            {"initiative": c.open_review_a.initiative_id, "decision": "hold", "rationale": ""},
            "rationale",
        ),
        cross_create=lambda c: (
            {"initiative": c.initiative_b.pk, "decision": "hold", "rationale": "x"},
            "initiative",
        ),
    ),
    Case(
        "focusline",
        FocusLine,
        lambda u: f.FocusLineFactory(initiative=_initiative(u)),
        writer=None,
    ),
    Case(
        "waiver",
        Waiver,
        lambda u: f.WaiverFactory(review=_gate_review(u)),
        create=lambda c: _waiver_body(c.open_review_a),
        bad_create=lambda c: ({**_waiver_body(c.open_review_a), "reason": ""}, "reason"),
        cross_create=lambda c: (_waiver_body(_gate_review(c.unit_b)), "review"),
    ),
    Case(
        "modelrollback",
        ModelRollback,
        _rollback,
        create=lambda c: _rollback_body(c.ai_system_a),
        bad_create=lambda c: ({**_rollback_body(c.ai_system_a), "reason": ""}, "reason"),
        cross_create=lambda c: (
            {**_rollback_body(c.ai_system_a), "ai_system": c.ai_system_b.pk},
            "ai_system",
        ),
    ),
    Case("control", Control, lambda u: f.ControlFactory(), scoped=False, writer=None),
    # The audit trail is not a model with visible_to: its own tests cover it
    # (test_audit_events_*), the table only records that it was considered.
    Case("auditevent", None, None, writer=None),
]

BY_NAME = {case.basename: case for case in CASES}
