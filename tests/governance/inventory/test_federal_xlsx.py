"""Issue 17: the built-in federal format reads the XLSX publication (long question
headers under a blank first row) to the same result as the CSV."""

from __future__ import annotations

import pytest

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from governance.models import ControlAttestation, RiskAssessment
from portfolio.models import Initiative
from tests.governance.inventory.helpers import long_header_xlsx, small_bytes

pytestmark = pytest.mark.django_db


def snapshot():
    initiatives = sorted(
        Initiative.objects.values_list(
            "source_key", "name", "stage", "problem", "summary", "started_on", "build_or_buy",
            "uses_pii", "uses_demographics", "risk_tier", "business_unit__code", "source_data",
            "stage_entered_at",
        )
    )  # fmt: skip
    risks = sorted(
        RiskAssessment.objects.values_list(
            "initiative__source_key", "us_high_impact", "eu_tier", "us_justification"
        )
    )
    attestations = sorted(
        ControlAttestation.objects.values_list(
            "initiative__source_key", "control__code", "status", "evidence"
        )
    )
    return initiatives, risks, attestations


def test_the_xlsx_publication_imports_to_the_same_portfolio_as_the_csv():
    omb = load_mapping(format_name="omb-2025")
    csv_report = inventory_import(
        acting_user=None, data=small_bytes(), filename="use_cases.csv", mapping=omb,
        keep_valid_rows=True, dry_run=False,
    )  # fmt: skip
    from_csv = snapshot()
    Initiative.objects.all().delete()  # cascades to assessments and attestations
    xlsx_report = inventory_import(
        acting_user=None, data=long_header_xlsx(small_bytes()), filename="use_cases.xlsx",
        mapping=omb, keep_valid_rows=True,
    )  # fmt: skip
    assert xlsx_report["missing_columns"] == [] and xlsx_report["header_row"] == 2
    assert xlsx_report["warnings"] == []
    for key in ("rows_read", "created", "rejected", "risk_assessments_created",
                "attestations_created", "unmapped"):  # fmt: skip
        assert xlsx_report[key] == csv_report[key], key
    assert xlsx_report["risk_assessments_created"] > 0
    assert xlsx_report["attestations_created"] > 0
    ini_x, risk_x, att_x = snapshot()
    ini_c, risk_c, att_c = from_csv
    assert risk_x == risk_c and att_x == att_c
    # same everything but the import time of rows without a stage date
    assert [r[:-1] for r in ini_x] == [r[:-1] for r in ini_c]
