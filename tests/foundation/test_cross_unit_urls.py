"""Every web page that takes an object id answers 404 to a unit lead of another unit.

The routes are read from the URL resolver, so a new page with an id in its URL fails
``test_every_object_route_is_covered`` until it is added to ``CROSS_UNIT`` (unit-scoped)
or ``NOT_UNIT_SCOPED`` (with the reason). The API has its own meta-test over its router.
"""

from __future__ import annotations

import pytest
from django.urls import URLResolver, get_resolver, reverse

from people.models import UnitMembership
from tests import factories as f

pytestmark = pytest.mark.django_db


def _object_routes():
    def walk(patterns, ns=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith(("admin", "api")):
                    continue
                yield from walk(p.url_patterns, ns + (f"{p.namespace}:" if p.namespace else ""))
            elif any(c.__class__.__name__ == "IntConverter" for c in p.pattern.converters.values()):
                yield ns + p.name

    return sorted(set(walk(get_resolver().url_patterns)))


# Per-user or organisation-wide pages, each tested where it is built.
NOT_UNIT_SCOPED = {
    "people:job_detail": "a job is seen by whoever started it and PMO (test_jobs_pages)",
    "people:job_status": "as job_detail",
    "people:job_download": "as job_detail",
    "people:inbox_mark_read": "a notification belongs to one user (tests/jobs)",
    "people:inbox_open": "as inbox_mark_read",
    "people:token_revoke": "a token belongs to one user (tests/api)",
    "people:job_run_now": "PMO only; the id is a schedule, not a unit's record (tests/jobs)",
    "people:coe_detail": "centres of excellence are organisation-wide",
    "people:training_detail": "training programmes are organisation-wide",
}


def _initiative(unit):
    return f.InitiativeFactory(business_unit=unit)


def _kpi(unit):
    kpi = f.KPIFactory(initiative__business_unit=unit)
    return {"pk": kpi.initiative_id, "kpi_pk": kpi.pk}


def _item(unit):
    item = f.AccessReviewItemFactory(review__business_unit=unit)
    return {"pk": item.review_id, "item_pk": item.pk}


# url name -> builds a record of ``unit`` and returns the URL kwargs
CROSS_UNIT = {
    "initiative_detail": lambda u: {"pk": _initiative(u).pk},
    "initiative_edit": lambda u: {"pk": _initiative(u).pk},
    "measurement_create": lambda u: {"pk": _initiative(u).pk},
    "kpi_create": lambda u: {"pk": _initiative(u).pk},
    "kpi_edit": lambda u: _kpi(u),
    "owners_edit": lambda u: {"pk": _initiative(u).pk},
    "unit_detail": lambda u: {"pk": u.pk},
    "unit_scorecard": lambda u: {"pk": u.pk},
    "graveyard_reuse": lambda u: {
        "pk": f.StageTransitionFactory(
            initiative__business_unit=u, decision="kill", to_stage="killed"
        ).pk
    },
    "finance:budget_detail": lambda u: {"pk": f.BudgetFactory(initiative__business_unit=u).pk},
    "finance:budget_approve": lambda u: {"pk": f.BudgetFactory(initiative__business_unit=u).pk},
    "finance:budget_reject": lambda u: {"pk": f.BudgetFactory(initiative__business_unit=u).pk},
    "finance:budget_amend": lambda u: {"pk": f.BudgetFactory(initiative__business_unit=u).pk},
    # FOCUS records belong to no unit: a unit role gets 404 on every one of them.
    "finance:focus_import_detail": lambda u: {"pk": f.FocusImportFactory().pk},
    "finance:focus_rule_edit": lambda u: {
        "pk": f.AllocationRuleFactory(initiative__business_unit=u).pk
    },
    "finance:focus_rule_delete": lambda u: {
        "pk": f.AllocationRuleFactory(initiative__business_unit=u).pk
    },
    "governance:gate": lambda u: {"initiative_pk": _initiative(u).pk},
    "governance:gate_stall_review": lambda u: {"initiative_pk": _initiative(u).pk},
    **{
        f"governance:gate_{name}": (
            lambda u: {"pk": f.GateReviewFactory(initiative__business_unit=u).pk}
        )
        for name in ("review_detail", "evidence", "recheck", "withdraw", "decide")
    },
    **{
        f"governance:ai_system_{name}": (
            lambda u: {"pk": f.AISystemFactory(initiative__business_unit=u).pk}
        )
        for name in ("detail", "edit")
    },
    **{
        f"governance:model_version_{name}": (
            lambda u: {"pk": f.ModelVersionFactory(ai_system__initiative__business_unit=u).pk}
        )
        for name in ("detail", "edit", "promote")
    },
    "governance:risk_assessment_detail": lambda u: {
        "pk": f.RiskAssessmentFactory(initiative__business_unit=u).pk
    },
    **{
        f"governance:attestation_{name}": (
            lambda u: {"pk": f.ControlAttestationFactory(initiative__business_unit=u).pk}
        )
        for name in ("detail", "edit")
    },
    **{
        f"governance:fairness_audit_{name}": (
            lambda u: {"pk": f.FairnessAuditFactory(initiative__business_unit=u).pk}
        )
        for name in ("detail", "edit")
    },
    **{
        f"governance:explainability_{name}": (
            lambda u: {"pk": f.ExplainabilityRecordFactory(initiative__business_unit=u).pk}
        )
        for name in ("detail", "edit")
    },
    **{
        f"governance:incident_{name}": (
            lambda u: {"pk": f.IncidentFactory(initiative__business_unit=u).pk}
        )
        for name in ("detail", "update", "acknowledge")
    },
    "governance:access_review_detail": lambda u: {"pk": f.AccessReviewFactory(business_unit=u).pk},
    "governance:access_review_close": lambda u: {"pk": f.AccessReviewFactory(business_unit=u).pk},
    "governance:access_review_item_decide": _item,
    "governance:waiver_cosign": lambda u: {
        "pk": f.WaiverFactory(review__initiative__business_unit=u).pk
    },
    "governance:record_history": lambda u: {
        "label": "portfolio.Initiative",
        "pk": _initiative(u).pk,
    },
}


def test_every_object_route_is_covered():
    routes = set(_object_routes())
    missing = routes - set(CROSS_UNIT) - set(NOT_UNIT_SCOPED)
    assert not missing, f"add a cross-unit case for: {sorted(missing)}"
    stale = (set(CROSS_UNIT) | set(NOT_UNIT_SCOPED)) - routes
    assert not stale, f"these routes no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(CROSS_UNIT))
def test_unit_lead_of_another_unit_gets_404(name, client, lead_b, unit_a):
    kwargs = CROSS_UNIT[name](unit_a)
    url = reverse(name, kwargs=kwargs)
    client.force_login(lead_b)
    response = client.get(url)
    if response.status_code == 405:  # an action: POST only
        response = client.post(url, {})
    assert response.status_code == 404, f"{name}: {response.status_code}"


@pytest.mark.parametrize("name", ["people:job_detail", "people:job_status", "people:job_download"])
def test_a_job_is_not_shown_to_another_user(name, client, lead_a, lead_b):
    from people.jobs import job_create

    job = job_create(kind="spend_import", requested_by=lead_a)
    client.force_login(lead_b)
    assert client.get(reverse(name, args=[job.pk])).status_code == 404
    client.force_login(lead_a)
    assert client.get(reverse(name, args=[job.pk])).status_code == (
        404 if "download" in name else 200
    )


def test_pmo_sees_any_job(client, pmo, lead_a):
    from people.jobs import job_create

    job = job_create(kind="spend_import", requested_by=lead_a)
    client.force_login(pmo)
    assert client.get(reverse("people:job_detail", args=[job.pk])).status_code == 200
    assert UnitMembership.objects.filter(user=lead_a).exists()
