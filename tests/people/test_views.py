"""Organisation pages: unit tree and unit page, CoEs, training. Scoped and query-flat."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import (
    BusinessUnitFactory,
    CenterOfExcellenceFactory,
    InitiativeFactory,
    TrainingCompletionFactory,
    TrainingProgramFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _count(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.status_code
    return len(ctx)


def test_unit_lead_sees_own_unit_tree_with_counts_and_not_other_units(
    client, lead_a, unit_a, unit_a_child, unit_b, initiative_a, initiative_a_child, initiative_b
):
    client.force_login(lead_a)
    response = client.get(reverse("unit_list"))
    tree = response.context["tree"]
    assert [n["unit"].code for n in tree] == ["RETAIL"]
    assert [n["unit"].code for n in tree[0]["children"]] == ["CARDS"]
    assert tree[0]["unit"].n_active == 1
    assert b"Wealth Management" not in response.content


def test_other_units_lead_gets_404_on_unit_page(client, lead_b, unit_a):
    client.force_login(lead_b)
    assert client.get(reverse("unit_detail", args=[unit_a.pk])).status_code == 404


def test_unit_page_counts_initiatives_of_sub_units(
    client, lead_a, unit_a, unit_a_child, initiative_a, initiative_a_child
):
    client.force_login(lead_a)
    response = client.get(reverse("unit_detail", args=[unit_a.pk]))
    assert response.context["initiative_count"] == 2
    assert [c.code for c in response.context["children"]] == ["CARDS"]


def test_unit_pages_query_count_is_the_same_with_5_and_50_units_and_initiatives(
    client, lead_a, unit_a
):
    client.force_login(lead_a)

    def grow(n, start):
        for i in range(start, start + n):
            child = BusinessUnitFactory(code=f"SUB{i:03d}", parent=unit_a)
            InitiativeFactory(business_unit=child)

    grow(5, 0)
    small_list = _count(client, reverse("unit_list"))
    small_detail = _count(client, reverse("unit_detail", args=[unit_a.pk]))
    grow(45, 5)
    assert _count(client, reverse("unit_list")) == small_list
    assert _count(client, reverse("unit_detail", args=[unit_a.pk])) == small_detail


def test_coe_pages_show_only_initiatives_the_user_can_see(client, lead_b, unit_a, unit_b):
    coe = CenterOfExcellenceFactory(name="GenAI CoE")
    InitiativeFactory(code="AI-A-COE", business_unit=unit_a, coe=coe)
    InitiativeFactory(code="AI-B-COE", business_unit=unit_b, coe=coe)
    client.force_login(lead_b)
    listing = client.get(reverse("people:coe_list"))
    assert listing.context["coes"][0].n_initiatives == 1
    detail = client.get(reverse("people:coe_detail", args=[coe.pk]))
    assert [i.code for i in detail.context["initiatives"]] == ["AI-B-COE"]
    assert b"AI-A-COE" not in detail.content


def test_coe_list_query_count_is_flat(client, lead_a, unit_a):
    client.force_login(lead_a)
    person = UserFactory(username="coe-person")
    for _ in range(5):
        coe = CenterOfExcellenceFactory()
        coe.members.add(person)
    small = _count(client, reverse("people:coe_list"))
    for _ in range(45):
        coe = CenterOfExcellenceFactory()
        coe.members.add(person)
        InitiativeFactory(business_unit=unit_a, coe=coe)
    assert _count(client, reverse("people:coe_list")) == small


def test_training_completions_are_scoped_to_the_users_units(client, lead_b, unit_a, unit_b):
    program = TrainingProgramFactory(name="AI literacy")
    a_person = UserFactory(username="a-person")
    b_person = UserFactory(username="b-person")
    TrainingCompletionFactory(program=program, user=a_person, business_unit=unit_a)
    TrainingCompletionFactory(program=program, user=b_person, business_unit=unit_b)
    client.force_login(lead_b)
    listing = client.get(reverse("people:training_list"))
    assert listing.context["page_obj"][0].n_completions == 1
    detail = client.get(reverse("people:training_detail", args=[program.pk]))
    assert [c.user.username for c in detail.context["page_obj"]] == ["b-person"]
    # Filtering by another unit's id is refused by the form, not answered.
    refused = client.get(
        reverse("people:training_detail", args=[program.pk]), {"business_unit": unit_a.pk}
    )
    assert refused.context["filter"].errors


def test_training_pages_query_count_is_flat(client, lead_a, unit_a):
    client.force_login(lead_a)
    program = TrainingProgramFactory(name="Prompting")
    people = [UserFactory(username=f"learner{i}") for i in range(50)]

    def grow(rng):
        for i in rng:
            TrainingProgramFactory()
            TrainingCompletionFactory(program=program, user=people[i], business_unit=unit_a)

    grow(range(0, 5))
    small_list = _count(client, reverse("people:training_list"), {"sort": "-completions"})
    small_detail = _count(client, reverse("people:training_detail", args=[program.pk]))
    grow(range(5, 50))
    assert _count(client, reverse("people:training_list"), {"sort": "-completions"}) == small_list
    assert _count(client, reverse("people:training_detail", args=[program.pk])) == small_detail
