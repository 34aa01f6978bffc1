"""The admin follows scope like the app, and unit roles get nothing from it."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_unit_lead_is_refused_by_the_admin(client, lead_a, initiative_a):
    client.force_login(lead_a)
    response = client.get(reverse("admin:portfolio_initiative_changelist"))
    assert response.status_code == 302 and "login" in response.url  # not staff


def test_staff_lead_cannot_open_any_initiative_in_admin(client, lead_a, initiative_a):
    lead_a.is_staff = True
    lead_a.save()
    client.force_login(lead_a)
    response = client.get(reverse("admin:portfolio_initiative_change", args=[initiative_a.pk]))
    assert response.status_code == 403


def test_pmo_business_unit_choices_come_from_editable_units(client, pmo, unit_a, unit_b):
    pmo.is_staff = True
    pmo.save()
    client.force_login(pmo)
    response = client.get(reverse("admin:portfolio_initiative_add"))
    assert response.status_code == 200
    choices = {c[1] for c in response.context["adminform"].form.fields["business_unit"].choices}
    assert unit_a.name in choices and unit_b.name in choices


def test_auditor_can_view_but_not_change_in_admin(client, auditor, initiative_a):
    auditor.is_staff = True
    auditor.save()
    client.force_login(auditor)
    url = reverse("admin:portfolio_initiative_change", args=[initiative_a.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert client.post(url, {"name": "forged"}).status_code == 403
