"""Autocompletes instead of drop-downs of every user or initiative (#15): no page renders
thousands of options, the pages stay flat in the data, and suggestions are scoped."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from people.models import UnitMembership
from portfolio.models import Assignment, Initiative
from tests.factories import AssignmentFactory, UserFactory

pytestmark = pytest.mark.django_db

#: Pages that used to list every visible initiative or every owner.
PAGES = [
    "initiative_list",
    "finance:spend_create",
    "finance:budget_request",
    "governance:attestation_create",
    "governance:fairness_audit_create",
    "governance:explainability_create",
    "governance:ai_system_create",
    "governance:risk_assessment_create",
    "governance:incident_create",
]
#: Pages whose other fields still offer people of the unit as a drop-down (the system's
#: owner: a user-choice field, not an initiative one); only their queries must stay flat.
PEOPLE_CHOICES = {"governance:ai_system_create"}


def _grow(unit, *, initiatives: int, users: int, prefix: str) -> None:
    """``initiatives`` initiatives and ``users`` owners (each an operator on one) in
    ``unit``, set-based."""
    User = get_user_model()
    people = User.objects.bulk_create(
        User(username=f"{prefix}-u{i}", first_name="Owner", last_name=f"{prefix}{i}")
        for i in range(users)
    )
    UnitMembership.objects.bulk_create(
        UnitMembership(user=u, business_unit=unit, role="viewer") for u in people
    )
    rows = Initiative.objects.bulk_create(
        Initiative(
            code=f"{prefix}-{i:04d}",
            name=f"Initiative {prefix} {i}",
            business_unit=unit,
            summary="x",
            stage="proof_of_concept",
        )
        for i in range(initiatives)
    )
    Assignment.objects.bulk_create(
        Assignment(initiative=i, business_unit=unit, role="operator", user=people[n % users])
        for n, i in enumerate(rows)
    )


def _options(html: str) -> int:
    return len(re.findall(r"<option\b", html))


def _measure(client, name):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse(name))
    assert response.status_code == 200, (name, response.status_code)
    return len(ctx.captured_queries), _options(response.content.decode())


def test_pages_with_initiative_or_owner_choices_are_flat_and_list_no_more_than_100_options(
    client, pmo, unit_a
):
    client.force_login(pmo)
    _grow(unit_a, initiatives=50, users=30, prefix="S")
    small = {name: _measure(client, name) for name in PAGES}
    _grow(unit_a, initiatives=450, users=270, prefix="L")
    large = {name: _measure(client, name) for name in PAGES}
    for name in PAGES:
        queries_small, options_small = small[name]
        queries_large, options_large = large[name]
        assert queries_large == queries_small, (name, queries_small, queries_large)
        if name in PEOPLE_CHOICES:
            continue
        assert options_large == options_small, (name, options_small, options_large)
        assert options_large <= 100, (name, options_large)


def test_owner_filter_is_a_text_box_taking_a_username_or_an_id(client, lead_a, initiative_a):
    owner = AssignmentFactory(initiative=initiative_a).user
    other = AssignmentFactory(initiative__business_unit=initiative_a.business_unit).initiative
    client.force_login(lead_a)
    page = client.get(reverse("initiative_list"))
    html = page.content.decode()
    assert re.search(r'<input[^>]*name="owner"', html)
    assert 'name="owner"' not in "".join(re.findall(r"<select[^>]*>", html))
    for value in (owner.username, str(owner.pk)):
        rows = client.get(reverse("initiative_list"), {"owner": value}).context["page_obj"]
        codes = [i.code for i in rows]
        assert codes == [initiative_a.code], value
        assert other.code not in codes


def test_owner_autocomplete_answers_only_people_of_the_users_units(
    client, lead_a, lead_b, initiative_a, initiative_b
):
    mine = AssignmentFactory(initiative=initiative_a, user=UserFactory(username="ann-mine"))
    theirs = AssignmentFactory(initiative=initiative_b, user=UserFactory(username="ann-theirs"))
    url = reverse("owner_autocomplete")
    client.force_login(lead_a)
    body = client.get(url, {"owner": "ann"}).content.decode()
    assert f'<option value="{mine.user.username}">' in body
    assert theirs.user.username not in body
    client.force_login(lead_b)
    body = client.get(url, {"q": "ann"}).content.decode()
    assert mine.user.username not in body
    assert f'<option value="{theirs.user.username}">' in body
    # by first and last name too
    client.force_login(lead_a)
    name = f"{mine.user.first_name} {mine.user.last_name[:2]}"
    assert mine.user.username in client.get(url, {"q": name}).content.decode()


def test_initiative_autocomplete_gives_another_units_lead_nothing(
    client, lead_b, initiative_a, initiative_b
):
    client.force_login(lead_b)
    body = client.get(reverse("initiative_autocomplete"), {"q": "AI-"}).content.decode()
    assert initiative_a.code not in body
    assert initiative_b.code in body


def test_autocompletes_need_a_signed_in_user(client):
    for name in ("initiative_autocomplete", "owner_autocomplete"):
        assert client.get(reverse(name), {"q": "a"}).status_code == 302


def test_spend_form_takes_an_initiative_code_and_refuses_another_units(
    client, lead_a, initiative_a, initiative_b
):
    client.force_login(lead_a)
    page = client.get(reverse("finance:spend_create")).content.decode()
    assert re.search(r'<input[^>]*name="initiative"[^>]*hx-get="/initiatives/autocomplete/"', page)
    data = {
        "posted_on": "2026-11-02",
        "kind": "operational",
        "category": "compute",
        "amount": "120.00",
        "currency": "USD",
    }
    refused = client.post(
        reverse("finance:spend_create"), {**data, "initiative": initiative_b.code}
    )
    assert refused.status_code == 200
    assert "initiative" in refused.context["form"].errors
    accepted = client.post(
        reverse("finance:spend_create"), {**data, "initiative": initiative_a.code}
    )
    assert accepted.status_code == 302, accepted.context["form"].errors
    assert initiative_a.spend.count() == 1


def test_governance_form_shows_the_code_of_the_initiative_it_was_opened_for(
    client, lead_a, initiative_a
):
    client.force_login(lead_a)
    url = reverse("governance:explainability_create") + f"?initiative={initiative_a.pk}"
    html = client.get(url).content.decode()
    field = re.search(r'<input[^>]*name="initiative"[^>]*>', html).group(0)
    assert f'value="{initiative_a.code}"' in field
