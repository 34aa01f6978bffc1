"""Issue 13: importing an inventory never changes what other units must satisfy. The
importer's controls carry the import's source and apply only to its initiatives."""

from __future__ import annotations

import pytest

from governance.inventory.importer import inventory_import
from governance.inventory.mapping import load_mapping
from governance.models import Control
from governance.selectors import missing_controls
from portfolio.models import Initiative
from tests import factories as f
from tests.governance.inventory.helpers import small_bytes

pytestmark = pytest.mark.django_db


def test_imported_controls_apply_only_to_the_imported_initiatives(unit_a, pmo):
    from portfolio.selectors import governance_gaps

    bank = f.InitiativeFactory(
        business_unit=unit_a, risk_tier="minimal", stage="initial_production"
    )
    bank_high = f.InitiativeFactory(
        business_unit=unit_a, risk_tier="high", stage="initial_production"
    )
    before = {i.pk for i in governance_gaps(pmo)}
    mapping = load_mapping(format_name="omb-2025")
    inventory_import(
        acting_user=None,
        data=small_bytes(),
        filename="omb_small.csv",
        mapping=mapping,
        keep_valid_rows=True,
    )
    omb = Control.objects.filter(code__startswith="OMB-MP-")
    assert omb.count() == 9
    assert set(omb.values_list("source", flat=True)) == {mapping.source}
    for initiative in (bank, bank_high):
        assert not [
            c
            for c in missing_controls(initiative=initiative, target_stage="initial_production")
            if c.code.startswith("OMB-MP-")
        ]
    after = {i.pk for i in governance_gaps(pmo)}
    assert after - {i.pk for i in Initiative.objects.filter(source=mapping.source)} == before
