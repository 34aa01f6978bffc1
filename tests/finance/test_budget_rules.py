"""Budgets: no new money for an ended initiative; strategic investment is one-time spend.
Each rule tried through the service, the API, the web form, the model (admin) and the
database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from finance.models import Budget
from finance.services import budget_approve, budget_request
from portfolio.models import Initiative
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


def _request(user, initiative, **kw):
    args = {
        "acting_user": user,
        "initiative": initiative,
        "fiscal_year": 2026,
        "kind": "operational",
        "category": "compute",
        "amount": Decimal("1000"),
        "currency": "USD",
    }
    args.update(kw)
    return budget_request(**args)


@pytest.mark.parametrize("stage", ["killed", "retired"])
def test_no_budget_request_for_an_ended_initiative_through_the_service(stage, initiative_a, lead_a):
    Initiative.objects.filter(pk=initiative_a.pk).update(stage=stage)
    with pytest.raises(ValidationError, match="ended initiative gets no new budget"):
        _request(lead_a, initiative_a)
    assert not Budget.objects.exists()


def test_no_budget_request_for_an_ended_initiative_through_the_api(initiative_a, lead_a, api):
    Initiative.objects.filter(pk=initiative_a.pk).update(stage="killed")
    response = api(lead_a).post(
        "/api/v1/budgets/",
        {
            "initiative": initiative_a.pk,
            "fiscal_year": 2026,
            "kind": "operational",
            "category": "compute",
            "amount": "1000",
            "currency": "USD",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "initiative" in response.json()["fields"]
    assert not Budget.objects.exists()


def test_the_budget_form_does_not_offer_ended_initiatives(initiative_a, lead_a, client):
    Initiative.objects.filter(pk=initiative_a.pk).update(stage="retired")
    client.force_login(lead_a)
    response = client.post(
        "/finance/budgets/request/",
        {
            "initiative": initiative_a.pk,
            "fiscal_year": 2026,
            "kind": "operational",
            "category": "compute",
            "amount": "1000",
            "currency": "USD",
        },
    )
    assert response.status_code in (200, 400)
    assert not Budget.objects.exists()


def test_a_request_waiting_when_the_initiative_ended_is_not_approved(initiative_a, lead_a, finance):
    budget = _request(lead_a, initiative_a)
    Initiative.objects.filter(pk=initiative_a.pk).update(stage="killed")
    with pytest.raises(ValidationError, match="has ended"):
        budget_approve(acting_user=finance, budget=budget)


def test_strategic_investment_is_one_time_through_the_service(initiative_a, lead_a):
    with pytest.raises(ValidationError, match="Strategic investment is one-time"):
        _request(lead_a, initiative_a, category="strategic_investment")
    assert _request(lead_a, initiative_a, kind="one_time", category="strategic_investment")


def test_strategic_investment_is_one_time_through_the_api_and_the_form(
    initiative_a, lead_a, api, client
):
    body = {
        "initiative": initiative_a.pk,
        "fiscal_year": 2026,
        "kind": "operational",
        "category": "strategic_investment",
        "amount": "1000",
        "currency": "USD",
    }
    response = api(lead_a).post("/api/v1/budgets/", body, format="json")
    assert response.status_code == 400 and "category" in response.json()["fields"]
    client.force_login(lead_a)
    response = client.post("/finance/budgets/request/", body)
    assert response.status_code in (200, 400)
    assert b"one-time" in response.content
    assert not Budget.objects.exists()


def test_the_model_and_the_database_hold_the_pair(initiative_a, lead_a):
    budget = Budget(
        initiative=initiative_a,
        business_unit=initiative_a.business_unit,
        fiscal_year=2026,
        kind="operational",
        category="strategic_investment",
        amount=Decimal("5"),
        currency="USD",
        requested_by=lead_a,
    )
    with pytest.raises(ValidationError) as exc:
        budget.full_clean()  # what the admin's form runs
    assert "category" in exc.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        budget.save()
    f.BudgetFactory(initiative=initiative_a, kind="one_time", category="strategic_investment")
