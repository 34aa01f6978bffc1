"""``portfolio.crossapp``: the one place portfolio reads finance and governance.

Its functions are thin delegations, and the pages that use them are tested on their own
(home, units, initiative tabs, exports, API rollups, jobs, the scorecard and the flow
analytics). Here: scoping at the seam.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from finance.models import Budget
from portfolio import crossapp, selectors
from tests.factories import (
    BudgetFactory,
    IncidentFactory,
    RiskAssessmentFactory,
)

pytestmark = pytest.mark.django_db


# --- Scoping at the seam ---------------------------------------------------------------------


def test_initiative_value_summary_is_none_for_an_initiative_out_of_scope(
    lead_a, lead_b, initiative_a
):
    assert crossapp.initiative_value_summary(lead_a, initiative_a).key_id == initiative_a.pk
    assert crossapp.initiative_value_summary(lead_b, initiative_a) is None


def test_initiative_money_lists_only_visible_initiatives(lead_a, initiative_a, initiative_b):
    assert set(crossapp.initiative_money(lead_a)) == {initiative_a.pk}


def test_initiative_budgets_hide_other_units_lines(lead_b, finance, initiative_a):
    BudgetFactory(initiative=initiative_a)
    assert crossapp.initiative_budgets(finance, initiative_a).count() == 1
    assert not crossapp.initiative_budgets(lead_b, initiative_a).exists()


def test_governance_records_hide_other_units_incidents(lead_a, lead_b, initiative_a):
    IncidentFactory(initiative=initiative_a)
    assert crossapp.initiative_governance_records(lead_a, initiative_a)["incidents"].count() == 1
    assert not crossapp.initiative_governance_records(lead_b, initiative_a)["incidents"].exists()


def test_cost_labels_name_every_kind_and_category():
    assert crossapp.cost_kind_labels()["operational"]
    assert crossapp.cost_category_labels()["compute"]
    assert "initiative" in crossapp.budget_groupings()


def test_dashboard_lists_hold_the_units_rows_only(lead_a, lead_b, initiative_a):
    RiskAssessmentFactory(
        initiative=initiative_a, next_review_due=timezone.localdate() - dt.timedelta(days=3)
    )
    IncidentFactory(initiative=initiative_a, status="open")
    BudgetFactory(initiative=initiative_a, status=Budget.Status.REQUESTED)
    for name in ("overdue_risk_reviews", "open_incidents", "budgets_awaiting_approval"):
        assert len(getattr(crossapp, name)(lead_a)) == 1, name
        assert list(getattr(selectors, name)(lead_a)) == list(getattr(crossapp, name)(lead_a))
        assert not getattr(crossapp, name)(lead_b).exists(), name
