"""Issue 12, residue: an inventory import that changes an initiative's unit moves it
through the same machinery as the API and admin (``portfolio.services``), so its KPIs,
budgets, postings and risk assessments go with it and the old unit's lead loses them."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from governance.models import RiskAssessment
from people.models import BusinessUnit, UnitRole
from portfolio.models import Initiative
from tests import factories as f
from tests.conftest import _member
from tests.governance.inventory.helpers import csv_bytes

pytestmark = pytest.mark.django_db


def _row(bureau: str, ident: str = "HHS-1", name: str = "Case triage") -> dict[str, str]:
    return {
        "agency": "HHS",
        "agency_name": "Department of Health and Human Services",
        "id": ident,
        "use_case_name": name,
        "agency_bureau": bureau,
        "development_stage": "Pilot",
    }


def _import(rows, user=None):
    return inventory_import(
        acting_user=user,
        data=csv_bytes(rows),
        filename="omb.csv",
        mapping=load_mapping(format_name="omb-2025"),
        keep_valid_rows=True,
    )


def test_an_import_that_changes_the_unit_moves_every_dependent_row(pmo):
    first = _import([_row("CDC"), _row("CDC", "HHS-2", "Grant helper")])
    assert first["created"] == 2, first
    initiative = Initiative.objects.get(source_key__endswith="HHS-1")
    other = Initiative.objects.get(source_key__endswith="HHS-2")
    cdc = initiative.business_unit
    assert cdc.name == "CDC"
    rows = {
        "v1:kpi-detail": f.KPIFactory(initiative=initiative),
        "v1:budget-detail": f.BudgetFactory(initiative=initiative),
        "v1:spendentry-detail": f.SpendEntryFactory(initiative=initiative),
        "v1:riskassessment-detail": f.RiskAssessmentFactory(initiative=initiative),
    }
    cdc_lead = _member(f.UserFactory(username="lead-cdc"), cdc, UnitRole.LEAD)

    # The next inventory reports the first use case under NIH (the second stays).
    second = _import([_row("NIH"), _row("CDC", "HHS-2", "Grant helper")], user=pmo)
    assert second["updated"] == 1, second
    initiative.refresh_from_db()
    nih = BusinessUnit.objects.get(name="NIH")
    assert initiative.business_unit_id == nih.pk
    assert Initiative.objects.get(pk=other.pk).business_unit_id == cdc.pk
    for row in rows.values():
        stored = type(row)._base_manager.get(pk=row.pk)
        assert stored.business_unit_id == nih.pk, type(row).__name__
    assert not RiskAssessment.objects.filter(initiative=initiative, business_unit=cdc).exists()

    nih_lead = _member(f.UserFactory(username="lead-nih"), nih, UnitRole.LEAD)
    client = APIClient()
    for name, row in {"v1:initiative-detail": initiative, **rows}.items():
        url = reverse(name, args=[row.pk])
        client.force_authenticate(cdc_lead)
        assert client.get(url).status_code == 404, name
        client.force_authenticate(nih_lead)
        assert client.get(url).status_code == 200, name


def test_an_import_moves_hundreds_with_a_bounded_number_of_statements(pmo):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rows = [_row("CDC", f"HHS-{n}", f"Use case {n}") for n in range(60)]
    _import(rows)
    for initiative in Initiative.objects.filter(source_key__contains="HHS-"):
        f.KPIFactory(initiative=initiative)
    moved = [_row("NIH", f"HHS-{n}", f"Use case {n}") for n in range(60)]
    with CaptureQueriesContext(connection) as ctx:
        report = _import(moved, user=pmo)
    assert report["updated"] == 60, report
    nih = BusinessUnit.objects.get(name="NIH")
    assert (
        not Initiative.objects.filter(source_key__contains="HHS-")
        .exclude(business_unit=nih)
        .exists()
    )
    from portfolio.models import KPI

    assert KPI.objects.filter(business_unit=nih).count() == 60
    kpi_updates = [
        q["sql"] for q in ctx.captured_queries if 'UPDATE "portfolio_kpi" SET' in q["sql"]
    ]
    assert len(kpi_updates) == 1, kpi_updates  # one statement per model and target unit


def test_an_import_does_not_strand_owners_it_keeps_the_unit_and_says_why(pmo):
    """The move rule is the service's, whichever path asks: an initiative whose owner has
    no access to the unit the file names stays where it is, reported in ``units_kept``;
    its other fields are still updated."""
    from portfolio.models import Assignment

    _import([_row("CDC")])
    initiative = Initiative.objects.get(source_key__endswith="HHS-1")
    cdc = initiative.business_unit
    owner = _member(f.UserFactory(username="cdc-analyst"), cdc, UnitRole.MEMBER)
    f.AssignmentFactory(initiative=initiative, role="operator", user=owner)
    report = _import([{**_row("NIH"), "use_case_name": "Case triage v2"}], user=pmo)
    assert [k["row"] for k in report["units_kept"]] == [2], report["units_kept"]
    assert "Operator" in report["units_kept"][0]["reason"]
    assert any("not moved" in w for w in report["warnings"])
    initiative.refresh_from_db()
    assert initiative.business_unit_id == cdc.pk
    assert initiative.name == "Case triage v2"
    assert Assignment.objects.get(initiative=initiative).business_unit_id == cdc.pk
