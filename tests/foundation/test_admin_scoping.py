"""The admin follows unit scope: a lead sees their unit's rows and nothing of others."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_unit_lead_sees_only_own_units_initiatives_in_admin(
    client, lead_a, initiative_a, initiative_b
):
    client.force_login(lead_a)
    response = client.get(reverse("admin:portfolio_initiative_changelist"))
    assert response.status_code == 200
    assert initiative_a.name in response.content.decode()
    assert initiative_b.name not in response.content.decode()


def test_unit_lead_cannot_open_another_units_initiative_in_admin(client, lead_a, initiative_b):
    client.force_login(lead_a)
    response = client.get(reverse("admin:portfolio_initiative_change", args=[initiative_b.pk]))
    # Django's admin answers a missing (here: out-of-scope) object with a redirect to the index.
    assert response.status_code == 302
    assert initiative_b.name not in client.get(response.url).content.decode()


def test_unit_lead_business_unit_choices_are_limited_to_own_units(client, lead_a, unit_a, unit_b):
    client.force_login(lead_a)
    response = client.get(reverse("admin:portfolio_initiative_add"))
    assert response.status_code == 200
    choices = {c[1] for c in response.context["adminform"].form.fields["business_unit"].choices}
    assert unit_a.name in choices and unit_b.name not in choices


def test_auditor_can_view_but_not_change_in_admin(client, auditor, initiative_a):
    auditor.is_staff = True
    auditor.save()
    client.force_login(auditor)
    url = reverse("admin:portfolio_initiative_change", args=[initiative_a.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert client.post(url, {"name": "forged"}).status_code == 403
