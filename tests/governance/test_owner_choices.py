"""Issue 12: the AI-system owner drop-down listed every user. Choices are scoped like the
rows: people of the initiative's unit (or a unit above it) and global roles, in the web
form, the API serializer and their validation."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from governance.forms import AISystemForm
from governance.models import AISystem
from people.selectors import people_for_units
from tests.factories import AISystemFactory

pytestmark = pytest.mark.django_db


def test_owner_choices_are_people_of_the_unit_its_parents_and_global_roles(
    lead_a, member_a, lead_b, pmo, outsider, unit_a, unit_a_child, initiative_a
):
    form = AISystemForm(user=lead_a)
    choices = set(form.fields["owner"].queryset)
    assert {lead_a, member_a, pmo} <= choices
    assert lead_b not in choices and outsider not in choices
    # A child unit's record may be owned by people of the parent unit.
    assert lead_a in people_for_units([unit_a_child.pk])


def test_web_form_refuses_an_owner_from_another_unit(client, lead_a, lead_b, initiative_a):
    client.force_login(lead_a)
    response = client.post(
        reverse("governance:ai_system_create"),
        {"initiative": initiative_a.pk, "name": "Scorer", "owner": lead_b.pk},
    )
    assert response.status_code == 200
    assert "owner" in response.context["form"].errors
    assert not AISystem.objects.filter(name="Scorer").exists()


def test_api_refuses_an_owner_from_another_unit(lead_a, lead_b, member_a, initiative_a):
    client = APIClient()
    client.force_authenticate(lead_a)
    url = reverse("v1:aisystem-list")
    body = {"initiative": initiative_a.pk, "name": "Scorer", "owner": lead_b.pk}
    response = client.post(url, body, format="json")
    assert response.status_code == 400 and "owner" in response.json()["fields"]
    body["owner"] = member_a.pk
    assert client.post(url, body, format="json").status_code == 201
    system = AISystem.objects.get(name="Scorer")
    patch = client.patch(
        reverse("v1:aisystem-detail", args=[system.pk]), {"owner": lead_b.pk}, format="json"
    )
    assert patch.status_code == 400
    system.refresh_from_db()
    assert system.owner_id == member_a.pk


def test_existing_system_offers_its_own_units_people(lead_a, member_a, lead_b, initiative_a):
    system = AISystemFactory(initiative=initiative_a, owner=member_a)
    form = AISystemForm(instance=system, user=lead_a)
    assert member_a in form.fields["owner"].queryset
    assert lead_b not in form.fields["owner"].queryset
