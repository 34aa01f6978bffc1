"""Issue 13, residue: "the target improves on the baseline" holds in the database
(``kpi_target_improves``, added NOT VALID like the other rule constraints), and
``manage.py review_constraints`` lists the NOT VALID constraints with their violating
rows and validates, as the owner role, those no row breaks. The demo data breaks none."""

from __future__ import annotations

import io
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from portfolio.db_roles import as_owner
from portfolio.management.commands.review_constraints import (
    check_violations,
    not_valid_constraints,
)
from portfolio.models import KPI
from tests import factories as f

NAME = "kpi_target_improves"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "direction,baseline,target",
    [("increase", "10", "5"), ("decrease", "10", "12"), ("increase", "10", "10")],
)
def test_database_refuses_a_target_that_does_not_improve(initiative_a, direction, baseline, target):
    kpi = f.KPIFactory(initiative=initiative_a, baseline_value=D("1"), target_value=D("2"))
    with pytest.raises(IntegrityError), transaction.atomic():
        # A bulk update skips clean(): the database holds the rule.
        KPI.objects.filter(pk=kpi.pk).update(
            direction=direction, baseline_value=D(baseline), target_value=D(target)
        )


@pytest.mark.django_db
def test_database_accepts_improving_targets_and_missing_values(initiative_a):
    kpi = f.KPIFactory(initiative=initiative_a)
    KPI.objects.filter(pk=kpi.pk).update(
        direction="decrease", baseline_value=D("10"), target_value=D("4")
    )
    KPI.objects.filter(pk=kpi.pk).update(target_value=None, target_date=None)


def _definition() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE conname = %s",
            [NAME],
        )
        return cursor.fetchone()


def _as_owner(sql: str, params=None) -> None:
    with as_owner(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def not_valid_again():
    """The test validates the constraint in the shared test database: put it back NOT
    VALID afterwards, as the migration left it."""
    definition = _definition()[0].replace(" NOT VALID", "")
    yield
    _as_owner(
        f"ALTER TABLE portfolio_kpi DROP CONSTRAINT IF EXISTS {NAME}; "
        f"ALTER TABLE portfolio_kpi ADD CONSTRAINT {NAME} {definition} NOT VALID"
    )


@pytest.mark.django_db(transaction=True)
def test_review_lists_violations_and_validates_only_clean_constraints(
    initiative_a, not_valid_again
):
    assert _definition()[1] is False  # the migration added it NOT VALID
    kpi = f.KPIFactory(initiative=initiative_a, baseline_value=D("10"), target_value=D("20"))
    definition = _definition()[0].replace(" NOT VALID", "")
    # A row written before the rule existed: drop it, write the row, add it back NOT VALID.
    _as_owner(
        f"ALTER TABLE portfolio_kpi DROP CONSTRAINT {NAME}; "
        "UPDATE portfolio_kpi SET target_value = 5 WHERE id = %s; "
        f"ALTER TABLE portfolio_kpi ADD CONSTRAINT {NAME} {definition} NOT VALID",
        [kpi.pk],
    )
    pending = {p.name: p for p in not_valid_constraints()}
    assert pending[NAME].violations == 1
    assert pending["transition_allowed_move"].violations == 0

    out = io.StringIO()
    call_command("review_constraints", NAME, "--validate", stdout=out)
    assert "1 violating rows" in out.getvalue() and "Left NOT VALID" in out.getvalue()
    assert _definition()[1] is False

    KPI.objects.filter(pk=kpi.pk).update(target_value=D("30"))
    out = io.StringIO()
    call_command("review_constraints", NAME, "--validate", stdout=out)
    assert f"Validated portfolio_kpi.{NAME}" in out.getvalue(), out.getvalue()
    assert _definition()[1] is True
    assert NAME not in {p.name for p in not_valid_constraints()}


@pytest.mark.django_db
def test_review_without_validate_changes_nothing():
    out = io.StringIO()
    call_command("review_constraints", stdout=out)
    assert f"portfolio_kpi.{NAME} (check, NOT VALID): no violating rows" in out.getvalue()
    assert _definition()[1] is False


@pytest.mark.django_db
def test_demo_seed_breaks_no_constraint():
    call_command("seed_demo", "--force", verbosity=0)
    assert KPI.objects.exists()
    broken = {name: n for name, n in check_violations().items() if n}
    assert broken == {}
    assert [p for p in not_valid_constraints() if p.violations] == []
