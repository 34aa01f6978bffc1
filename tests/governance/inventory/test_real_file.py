"""The real consolidated 2025 federal inventory (3,611 rows, 41 agencies)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from people.models import BusinessUnit
from portfolio.models import Initiative
from tests.governance.inventory.helpers import writes

REAL = (
    Path(settings.BASE_DIR).parent
    / "shared"
    / "data"
    / "us-federal-ai-inventory-2025"
    / "use_cases.csv"
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.slow,
    pytest.mark.skipif(not REAL.exists(), reason="the federal inventory is not on this machine"),
]


@pytest.fixture(scope="module")
def data() -> bytes:
    return REAL.read_bytes()


def test_the_real_inventory_imports_with_every_row_accounted_for_and_reimports_as_a_no_op(data):
    omb = load_mapping(format_name="omb-2025")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    report = inventory_import(
        acting_user=None, data=data, filename="use_cases.csv", mapping=omb, keep_valid_rows=True
    )

    # every row accounted for
    assert report["rows_read"] == len(rows) == 3611
    assert report["rows_read"] == (
        report["created"] + report["updated"] + report["unchanged"] + report["rejected"]
    )
    assert report["created"] == Initiative.objects.filter(source=omb.source).count()

    # the 41 agencies become the top-level units
    agencies = {r["agency"] for r in rows}
    assert len(agencies) == 41
    assert (
        set(BusinessUnit.objects.filter(parent__isnull=True).values_list("code", flat=True))
        == agencies
    )

    # duplicate ids: the later rows are rejected with the row of the first, never merged
    reasons = [r["reason"] for r in report["rejections"]]
    assert sum("id 'DOJ-0357'" in r for r in reasons) == 1
    assert sum("id 'DOJ-0160'" in r for r in reasons) == 1
    assert Initiative.objects.filter(source_key__in=["DOJ/DOJ-0357", "DOJ/DOJ-0160"]).count() == 2
    # numeric ids repeat across agencies: scoped by agency, they do not collide
    assert Initiative.objects.filter(source_key__endswith="/35").count() == 3

    # blank ids (704) and placeholder ids get keys from unit and name
    blank_or_placeholder = sum(1 for r in rows if r["id"].strip() in ("", "TBD"))
    derived = Initiative.objects.filter(source=omb.source, source_key__contains="/~").count()
    collisions = sum("no id and the same unit and name" in r for r in reasons)
    assert derived + collisions == blank_or_placeholder
    assert report["rejected"] == 8  # 1 blank name, 2 duplicate ids, 5 same-unit-same-name

    # blank stage stays unknown
    blank_stage = sum(1 for r in rows if not r["development_stage"].strip())
    assert Initiative.objects.filter(stage="unknown").count() <= blank_stage
    assert Initiative.objects.filter(stage="unknown").count() > 300

    # re-import: nothing written at all
    with CaptureQueriesContext(connection) as ctx:
        again = inventory_import(
            acting_user=None, data=data, filename="use_cases.csv", mapping=omb, keep_valid_rows=True
        )
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, report["created"])
    assert writes(ctx.captured_queries) == []
    # set-based: the whole re-import takes a handful of queries, not one per row
    assert len(ctx.captured_queries) < 40
    assert Counter(i["stage"] for i in Initiative.objects.values("stage"))["retired"] > 0
