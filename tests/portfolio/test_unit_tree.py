"""The unit list is a tree: top units paginated, sub-units folded under their top unit
(unfolded for a small organisation), so 440 federal units are not one 23,000 px page."""

from __future__ import annotations

import pytest

from tests.factories import BusinessUnitFactory

pytestmark = pytest.mark.django_db


def test_a_large_organisation_is_paginated_by_top_unit_with_sub_units_folded(client, pmo):
    for n in range(45):
        top = BusinessUnitFactory(code=f"AG-{n:02d}", name=f"Agency {n:02d}")
        for m in range(3):
            BusinessUnitFactory(code=f"AG-{n:02d}-{m}", name=f"Bureau {n:02d}.{m}", parent=top)
    client.force_login(pmo)
    page = client.get("/people/units/").content.decode()
    assert page.count('class="fw-semibold">Agency') == 20
    assert page.count('class="fw-semibold">Bureau') == 60
    assert 'class="unit-children-' in page and "collapse show" not in page
    assert 'aria-expanded="false"' in page and "3 sub-units" in page
    assert 'data-total="45"' in page
    last = client.get("/people/units/?page=3").content.decode()
    assert last.count('class="fw-semibold">Agency') == 5


def test_a_small_organisation_shows_its_sub_units_unfolded(client, pmo, unit_a, unit_a_child):
    client.force_login(pmo)
    page = client.get("/people/units/").content.decode()
    assert "collapse show" in page and 'aria-expanded="true"' in page
    assert "Cards" in page
