"""Issue 12: moving an initiative to another unit carries every dependent row.

After ``PATCH /api/v1/initiatives/<id>/ {"business_unit": ...}`` the old unit's lead
still saw and edited its KPIs, budgets, postings, AI system, incident and owners, and the
new unit saw none. One service (``initiative_move``) now moves everything in one
transaction, whichever path asks (API, web form, admin), or refuses.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from portfolio.models import Initiative
from portfolio.services import initiative_dependents, initiative_move
from tests import factories as f
from tests.admin_forms import post_change

pytestmark = pytest.mark.django_db


def _pmo_person():
    """An owner who may hold a role in any unit (owners need access to the unit)."""
    from django.contrib.auth.models import Group

    from people.roles import PMO

    user = f.UserFactory(username="pmo-owner")
    user.groups.add(Group.objects.get(name=PMO))
    return user


def _review(initiative):
    """The initiative's one open gate review."""
    from governance.models import GateReview

    return GateReview.objects.filter(initiative=initiative).first() or f.GateReviewFactory(
        initiative=initiative
    )


#: One factory per dependent model; a model with a denormalised unit and no entry here
#: fails test_every_dependent_model_is_covered (so a new one cannot be forgotten).
BUILDERS = {
    "finance.Budget": lambda i, u: f.BudgetFactory(initiative=i),
    "finance.SpendEntry": lambda i, u: f.SpendEntryFactory(initiative=i),
    "finance.FocusLine": lambda i, u: f.FocusLineFactory(initiative=i),
    "governance.AISystem": lambda i, u: f.AISystemFactory(initiative=i),
    "governance.ControlAttestation": lambda i, u: f.ControlAttestationFactory(initiative=i),
    "governance.Dataset": lambda i, u: f.DatasetFactory(initiative=i),
    "governance.ExplainabilityRecord": lambda i, u: f.ExplainabilityRecordFactory(initiative=i),
    "governance.FairnessAudit": lambda i, u: f.FairnessAuditFactory(initiative=i),
    "governance.GateCriterionResult": lambda i, u: f.GateCriterionResultFactory(review=_review(i)),
    "governance.GateReview": lambda i, u: _review(i),
    "governance.CriterionLapse": lambda i, u: f.CriterionLapseFactory(review=_review(i)),
    "governance.ModelDeployment": lambda i, u: f.ModelDeploymentFactory(
        model_version=f.ModelVersionFactory(ai_system=f.AISystemFactory(initiative=i))
    ),
    "governance.ModelRollback": lambda i, u: f.ModelRollbackFactory(
        from_version=f.ModelVersionFactory(ai_system=f.AISystemFactory(initiative=i))
    ),
    "governance.Incident": lambda i, u: f.IncidentFactory(initiative=i),
    "governance.ModelVersion": lambda i, u: f.ModelVersionFactory(
        ai_system=f.AISystemFactory(initiative=i)
    ),
    "governance.RiskAssessment": lambda i, u: f.RiskAssessmentFactory(initiative=i),
    "governance.Waiver": lambda i, u: f.WaiverFactory(review=_review(i)),
    "portfolio.AdoptionSnapshot": lambda i, u: f.AdoptionSnapshotFactory(initiative=i),
    "portfolio.Assignment": lambda i, u: f.AssignmentFactory(initiative=i, user=_pmo_person()),
    "portfolio.IntegrationPoint": lambda i, u: f.IntegrationPointFactory(initiative=i),
    "portfolio.KPI": lambda i, u: f.KPIFactory(initiative=i),
    "portfolio.Measurement": lambda i, u: f.MeasurementFactory(kpi=f.KPIFactory(initiative=i)),
    "portfolio.StageTransition": lambda i, u: f.StageTransitionFactory(initiative=i),
}


@pytest.fixture
def full_initiative(initiative_a, unit_a):
    """Initiative A with one row of every dependent model; returns (initiative, rows)."""
    rows = [
        BUILDERS[model._meta.label](initiative_a, unit_a) for model, _ in initiative_dependents()
    ]
    return initiative_a, rows


def _units(rows):
    return {
        type(row)._meta.label: type(row)._base_manager.get(pk=row.pk).business_unit_id
        for row in rows
    }


def test_every_dependent_model_is_covered():
    labels = {model._meta.label for model, _ in initiative_dependents()}
    assert labels == set(BUILDERS), (
        "A model with a business_unit copied from its initiative is new or gone: "
        f"missing here {sorted(labels - set(BUILDERS))}, stale {sorted(set(BUILDERS) - labels)}"
    )
    # What the issue listed, at least.
    assert {
        "portfolio.KPI",
        "portfolio.Measurement",
        "finance.Budget",
        "finance.SpendEntry",
        "governance.AISystem",
        "governance.ModelVersion",
        "governance.Incident",
        "portfolio.Assignment",
        "governance.RiskAssessment",
        "governance.ControlAttestation",
    } <= labels


def _assert_moved(rows, unit_b, lead_a, lead_b):
    assert set(_units(rows).values()) == {unit_b.pk}, _units(rows)
    for row in rows:
        model = type(row)
        assert not model.objects.visible_to(lead_a).filter(pk=row.pk).exists(), model
        assert model.objects.visible_to(lead_b).filter(pk=row.pk).exists(), model


def test_api_patch_moves_every_dependent_row(full_initiative, pmo, lead_a, lead_b, unit_b):
    initiative, rows = full_initiative
    client = APIClient()
    client.force_authenticate(pmo)
    url = reverse("v1:initiative-detail", args=[initiative.pk])
    response = client.patch(url, {"business_unit": unit_b.pk}, format="json")
    assert response.status_code == 200, response.content
    assert Initiative.objects.get(pk=initiative.pk).business_unit_id == unit_b.pk
    _assert_moved(rows, unit_b, lead_a, lead_b)
    # Through the API: the old lead gets 404 on the initiative and its rows; the new sees them.
    kpi = next(r for r in rows if type(r).__name__ == "KPI")
    budget = next(r for r in rows if type(r).__name__ == "Budget")
    posting = next(r for r in rows if type(r).__name__ == "SpendEntry")
    incident = next(r for r in rows if type(r).__name__ == "Incident")
    for name, pk in (
        ("v1:initiative-detail", initiative.pk),
        ("v1:kpi-detail", kpi.pk),
        ("v1:budget-detail", budget.pk),
        ("v1:spendentry-detail", posting.pk),
        ("v1:incident-detail", incident.pk),
    ):
        client.force_authenticate(lead_a)
        assert client.get(reverse(name, args=[pk])).status_code == 404, name
        assert client.patch(reverse(name, args=[pk]), {}, format="json").status_code in (
            404,
            405,
        ), name
        client.force_authenticate(lead_b)
        assert client.get(reverse(name, args=[pk])).status_code == 200, name


def test_a_lead_cannot_move_an_initiative_to_a_unit_they_cannot_edit(
    full_initiative, lead_a, unit_b
):
    initiative, rows = full_initiative
    client = APIClient()
    client.force_authenticate(lead_a)
    url = reverse("v1:initiative-detail", args=[initiative.pk])
    response = client.patch(url, {"business_unit": unit_b.pk, "name": "Moved"}, format="json")
    assert response.status_code in (400, 403, 404)
    initiative.refresh_from_db()
    assert initiative.business_unit_id == initiative.business_unit_id
    assert initiative.name == "Claims triage"  # nothing half-written
    assert set(_units(rows).values()) == {initiative.business_unit_id}


def test_service_refuses_a_lead_of_the_source_unit_only(full_initiative, lead_a, unit_a, unit_b):
    from django.core.exceptions import PermissionDenied

    initiative, rows = full_initiative
    with pytest.raises(PermissionDenied):
        initiative_move(acting_user=lead_a, initiative=initiative, business_unit=unit_b)
    assert set(_units(rows).values()) == {unit_a.pk}


def test_a_lead_of_both_units_moves_it(full_initiative, lead_a, lead_b, unit_b):
    from people.models import UnitRole
    from people.services import membership_grant

    membership_grant(acting_user=lead_b, user=lead_a, business_unit=unit_b, role=UnitRole.MEMBER)
    initiative, rows = full_initiative
    fresh_lead_a = type(lead_a).objects.get(pk=lead_a.pk)
    initiative_move(acting_user=fresh_lead_a, initiative=initiative, business_unit=unit_b)
    assert set(_units(rows).values()) == {unit_b.pk}


def test_web_form_moves_every_dependent_row(client, full_initiative, pmo, lead_a, lead_b, unit_b):
    initiative, rows = full_initiative
    client.force_login(pmo)
    url = reverse("initiative_edit", args=[initiative.pk])
    page = client.get(url)
    form = page.context["form"]
    data = {
        name: form[name].value()
        for name in form.fields
        if form[name].value() not in (None, "", [], False)
    }
    data["business_unit"] = unit_b.pk
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    _assert_moved(rows, unit_b, lead_a, lead_b)
    client.force_login(lead_a)
    assert client.get(reverse("initiative_detail", args=[initiative.pk])).status_code == 404
    client.force_login(lead_b)
    assert client.get(reverse("initiative_detail", args=[initiative.pk])).status_code == 200


def test_admin_change_of_unit_is_a_move(client, full_initiative, lead_a, lead_b, unit_b):
    initiative, rows = full_initiative
    client.force_login(f.UserFactory(username="root", is_staff=True, is_superuser=True))
    response = post_change(client, initiative, business_unit=unit_b.pk)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        [fs.formset.errors for fs in response.context["inline_admin_formsets"]],
    )
    _assert_moved(rows, unit_b, lead_a, lead_b)


def test_move_calls_the_hook_for_maintained_summaries(full_initiative, pmo, unit_a, unit_b):
    from portfolio.services import initiative_moved

    seen = []

    def receiver(sender, **kwargs):
        seen.append((kwargs["from_unit_id"], kwargs["to_unit_id"], kwargs["acting_user"]))

    initiative_moved.connect(receiver)
    try:
        initiative_move(acting_user=pmo, initiative=full_initiative[0], business_unit=unit_b)
    finally:
        initiative_moved.disconnect(receiver)
    assert seen == [(unit_a.pk, unit_b.pk, pmo)]


def test_stage_history_stays_append_only_except_for_its_unit(full_initiative):
    from django.db import DatabaseError, transaction

    from portfolio.models import StageTransition

    transition = StageTransition.objects.filter(initiative=full_initiative[0]).get()
    for change in ({"rationale": "rewritten"}, {"to_stage": "killed"}):
        with pytest.raises(DatabaseError), transaction.atomic():
            StageTransition.objects.filter(pk=transition.pk).update(**change)
    with pytest.raises(DatabaseError), transaction.atomic():
        StageTransition.objects.filter(pk=transition.pk).delete()


def test_spend_rollups_follow_the_move(full_initiative, pmo, unit_a, unit_b):
    """The maintained spend summaries (kept by triggers on the ledger) move with the
    postings: per unit they equal the raw rows after the move."""
    from django.db.models import Sum

    from finance.models import SpendEntry, SpendInitiativeMonth

    initiative = full_initiative[0]
    initiative_move(acting_user=pmo, initiative=initiative, business_unit=unit_b)
    raw = SpendEntry.objects.filter(business_unit=unit_b).count()
    rolled = SpendInitiativeMonth.objects.filter(
        initiative=initiative, business_unit=unit_b
    ).aggregate(n=Sum("entries"))["n"]
    assert raw == rolled == 1
    left = SpendInitiativeMonth.objects.filter(initiative=initiative, business_unit=unit_a)
    assert (left.aggregate(n=Sum("entries"))["n"] or 0) == 0
