"""``portfolio.crossapp``: the one place portfolio reads finance and governance.

Its functions are thin delegations, and the pages that use them are tested on their own
(home, units, initiative tabs, exports, API rollups, jobs). Here: scoping at the seam,
and, for the modules not yet routed through it (``NOT_YET_ROUTED`` in
``tests/foundation/test_layering.py``), that what it offers them builds exactly the SQL
they build today, so routing them is a mechanical change. Delete a parity case when its
module is routed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from finance.models import Budget
from portfolio import analytics, crossapp, selectors
from portfolio.choices import ACTIVE_STAGES, STAGE_ORDER, Dimension
from portfolio.models import Initiative, StageTransition
from tests.factories import (
    BudgetFactory,
    ControlAttestationFactory,
    ControlFactory,
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


# --- Parity with the modules not yet routed (portfolio/selectors.py) -----------------------


@pytest.mark.parametrize(
    "name", ["overdue_risk_reviews", "open_incidents", "budgets_awaiting_approval"]
)
def test_crossapp_builds_the_same_query_as_selectors(name, pmo, lead_a, unit_a):
    for user in (pmo, lead_a):
        for unit_ids in (None, [unit_a.pk]):
            ours = getattr(crossapp, name)(user, unit_ids=unit_ids)
            theirs = getattr(selectors, name)(user, unit_ids=unit_ids)
            assert str(ours.query) == str(theirs.query)


def test_crossapp_reads_the_same_rows_as_selectors(lead_a, initiative_a):
    RiskAssessmentFactory(
        initiative=initiative_a, next_review_due=timezone.localdate() - dt.timedelta(days=3)
    )
    IncidentFactory(initiative=initiative_a, status="open")
    BudgetFactory(initiative=initiative_a, status=Budget.Status.REQUESTED)
    for name in ("overdue_risk_reviews", "open_incidents", "budgets_awaiting_approval"):
        ours = list(getattr(crossapp, name)(lead_a))
        assert ours == list(getattr(selectors, name)(lead_a))
        assert len(ours) == 1, name


def test_spend_by_stage_runs_the_same_query_as_selectors(pmo, lead_a):
    for user in (pmo, lead_a):
        selectors.spend_by_stage(user)  # warm the user's cached permissions and scope
        for year in (None, timezone.localdate().year):
            with CaptureQueriesContext(connection) as ours:
                ours_rows = crossapp.spend_by_stage(user, fiscal_year=year)
            with CaptureQueriesContext(connection) as theirs:
                theirs_rows = selectors.spend_by_stage(user, fiscal_year=year)
            assert ours_rows == theirs_rows
            assert [q["sql"] for q in ours] == [q["sql"] for q in theirs]


def test_governance_gaps_composed_from_crossapp_is_the_same_query(pmo, lead_a):
    """``selectors.governance_gaps`` rebuilt with the crossapp pieces, line for line."""
    today = dt.date(2026, 6, 30)

    def gaps(user):
        control_rank = Case(
            *[When(applies_from_stage=s, then=Value(i)) for s, i in STAGE_ORDER.items()],
            default=Value(99),
            output_field=IntegerField(),
        )
        missing = (
            crossapp.applicable_controls(tier=OuterRef("risk_tier"), source=OuterRef("source"))
            .annotate(rank=control_rank)
            .filter(rank__lte=OuterRef("stage_rank"))
            .exclude(Exists(crossapp.valid_attestations(today=today)))
            .order_by()
            .values(k=Value(1))
            .annotate(n=Count("pk"))
            .values("n")
        )
        lapses = crossapp.open_criterion_lapses_count()
        high_risk = Q(risk_tier__in=selectors.HIGH_RISK_TIERS) | Exists(
            crossapp.us_high_impact_assessments()
        )
        return (
            Initiative.objects.visible_to(user)
            .filter(stage__in=ACTIVE_STAGES)
            .annotate(stage_rank=selectors.stage_rank())
            .annotate(
                missing_controls=Case(
                    When(high_risk, then=Coalesce(Subquery(missing[:1]), Value(0))),
                    default=Value(0),
                    output_field=IntegerField(),
                ),
                lapsed_criteria=Coalesce(Subquery(lapses[:1]), Value(0)),
            )
            .filter(Q(missing_controls__gt=0) | Q(lapsed_criteria__gt=0))
            .select_related("business_unit")
            .order_by("-missing_controls", "-lapsed_criteria", "code")
        )

    for user in (pmo, lead_a):
        assert str(gaps(user).query) == str(selectors.governance_gaps(user, today=today).query)


# --- Parity with portfolio/scorecard.py and portfolio/analytics.py --------------------------


def test_scorecard_control_queries_are_the_ones_crossapp_builds(unit_a, initiative_a):
    """``scorecard.controls_by_unit``'s second and third queries (the rule asked per
    (tier, source), the valid attestations by unit) are exactly those of
    ``controls_applying_by_dimension`` and ``attested_controls_by_unit``."""
    from portfolio import scorecard

    today = dt.date(2026, 6, 30)
    dims = [Dimension.INFRASTRUCTURE.value, Dimension.SECURITY_GOVERNANCE.value]
    control = ControlFactory(applies_to_tiers=[], applies_from_stage="proof_of_concept")
    ControlAttestationFactory(initiative=initiative_a, control=control, evidence="Report.")
    with CaptureQueriesContext(connection) as theirs:
        figures = scorecard.controls_by_unit([unit_a.pk], today=today)
    combo = (initiative_a.risk_tier, initiative_a.source)
    with CaptureQueriesContext(connection) as ours:
        applying = crossapp.controls_applying_by_dimension([combo], dimensions=dims)
        attested = crossapp.attested_controls_by_unit(
            [unit_a.pk], stages=scorecard.ACTIVE, today=today, dimensions=dims
        )
    assert len(theirs) == 3
    assert [q["sql"] for q in ours] == [q["sql"] for q in theirs][1:]
    dim = Dimension.SECURITY_GOVERNANCE.value
    assert applying == {(dim, "proof_of_concept"): {combo: 1}}
    assert attested == {(unit_a.pk, dim): 1}
    assert figures[unit_a.pk][dim] == (1, 1)


def test_exchange_rate_on_is_the_rate_the_graveyard_converts_with():
    """``analytics._sunk_in_reporting`` rebuilt with ``crossapp.exchange_rate_on``."""
    from django.conf import settings
    from django.db.models import DecimalField, ExpressionWrapper

    rate = crossapp.exchange_rate_on(
        currency=OuterRef("sunk_cost_currency"), day=OuterRef("decided_at")
    )
    ours = Case(
        When(sunk_cost_currency=settings.REPORTING_CURRENCY, then=F("sunk_cost")),
        default=ExpressionWrapper(
            F("sunk_cost") * Subquery(rate), output_field=DecimalField(max_digits=20)
        ),
        output_field=DecimalField(max_digits=20, decimal_places=2),
    )
    assert str(StageTransition.objects.annotate(s=ours).query) == str(
        StageTransition.objects.annotate(s=analytics._sunk_in_reporting()).query
    )
