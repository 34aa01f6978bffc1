"""Adding and editing KPIs and naming an initiative's owners from the product UI."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from pghistory.models import Events

from portfolio.models import KPI, Assignment
from tests.factories import AssignmentFactory, KPIFactory

pytestmark = pytest.mark.django_db


def _kpi_post(**overrides):
    data = {
        "name": "Hours saved per month",
        "kind": "business",
        "category": "time_saved",
        "unit": "hours",
        "direction": "increase",
        "baseline_value": "120",
        "baseline_date": "2026-01-31",
        "target_value": "400",
        "target_date": "2026-12-31",
        "cadence": "monthly",
        "value_per_unit": "",
        "value_currency": "",
    }
    data.update(overrides)
    return data


def _owners_post(**chosen):
    data = dict.fromkeys(Assignment.Role.values, "")
    data.update({role: str(user.pk) for role, user in chosen.items()})
    return data


def test_unit_lead_adds_a_kpi_with_a_baseline_and_it_appears_on_outcomes(
    client, lead_a, initiative_a
):
    client.force_login(lead_a)
    page = client.get(reverse("initiative_detail", args=[initiative_a.pk]), {"tab": "outcomes"})
    assert reverse("kpi_create", args=[initiative_a.pk]).encode() in page.content

    response = client.post(reverse("kpi_create", args=[initiative_a.pk]), _kpi_post())
    assert response.status_code == 302

    kpi = KPI.objects.get(initiative=initiative_a)
    assert kpi.business_unit_id == initiative_a.business_unit_id
    assert kpi.baseline_value == Decimal("120")
    assert str(kpi.baseline_date) == "2026-01-31"
    page = client.get(reverse("initiative_detail", args=[initiative_a.pk]), {"tab": "outcomes"})
    assert b"Hours saved per month" in page.content


def test_a_baseline_without_its_date_is_a_field_error_and_nothing_is_written(
    client, lead_a, initiative_a
):
    client.force_login(lead_a)
    response = client.post(
        reverse("kpi_create", args=[initiative_a.pk]), _kpi_post(baseline_date="")
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "baseline_date" in errors
    assert "baseline" in errors["baseline_date"][0].lower()
    assert not KPI.objects.exists()


def test_target_and_value_without_their_partner_fields_are_field_errors(
    client, lead_a, initiative_a
):
    client.force_login(lead_a)
    response = client.post(
        reverse("kpi_create", args=[initiative_a.pk]),
        _kpi_post(target_date="", value_per_unit="45", value_currency=""),
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"target_date", "value_currency"}
    assert not KPI.objects.exists()


def test_a_currency_outside_the_configured_list_is_refused(client, lead_a, initiative_a):
    client.force_login(lead_a)
    response = client.post(
        reverse("kpi_create", args=[initiative_a.pk]),
        _kpi_post(value_per_unit="45", value_currency="XYZ"),
    )
    assert response.status_code == 400
    assert "value_currency" in response.context["form"].errors
    assert not KPI.objects.exists()


def test_unit_lead_edits_an_existing_kpi(client, lead_a, initiative_a):
    kpi = KPIFactory(initiative=initiative_a, name="Old name")
    client.force_login(lead_a)
    response = client.post(
        reverse("kpi_edit", args=[initiative_a.pk, kpi.pk]),
        _kpi_post(name="New name", value_per_unit="45", value_currency="EUR"),
    )
    assert response.status_code == 302
    kpi.refresh_from_db()
    assert (kpi.name, kpi.value_per_unit, kpi.value_currency) == (
        "New name",
        Decimal("45"),
        "EUR",
    )


def test_other_units_lead_gets_404_on_unit_a_kpi_and_owner_pages(
    client, lead_b, initiative_a, member_a
):
    kpi = KPIFactory(initiative=initiative_a, name="Keep me")
    client.force_login(lead_b)
    urls = [
        reverse("kpi_create", args=[initiative_a.pk]),
        reverse("kpi_edit", args=[initiative_a.pk, kpi.pk]),
        reverse("owners_edit", args=[initiative_a.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    assert client.post(urls[0], _kpi_post()).status_code == 404
    assert client.post(urls[1], _kpi_post(name="Changed")).status_code == 404
    assert client.post(urls[2], _owners_post(operator=member_a)).status_code == 404
    assert list(KPI.objects.values_list("name", flat=True)) == ["Keep me"]
    assert not Assignment.objects.exists()


def test_a_kpi_of_another_initiative_is_404_under_this_one(client, lead_a, initiative_a, unit_b):
    from tests.factories import InitiativeFactory

    other = KPIFactory(initiative=InitiativeFactory(code="AI-B-9", business_unit=unit_b))
    client.force_login(lead_a)
    assert client.get(reverse("kpi_edit", args=[initiative_a.pk, other.pk])).status_code == 404


@pytest.mark.parametrize("who", ["viewer_a", "auditor"])
def test_read_only_users_get_403_and_see_no_edit_links(request, client, who, initiative_a):
    user = request.getfixturevalue(who)
    member = request.getfixturevalue("member_a")
    kpi = KPIFactory(initiative=initiative_a)
    client.force_login(user)
    for url in (
        reverse("kpi_create", args=[initiative_a.pk]),
        reverse("kpi_edit", args=[initiative_a.pk, kpi.pk]),
        reverse("owners_edit", args=[initiative_a.pk]),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("kpi_create", args=[initiative_a.pk]), _kpi_post()).status_code == (
        403
    )
    response = client.post(
        reverse("owners_edit", args=[initiative_a.pk]), _owners_post(operator=member)
    )
    assert response.status_code == 403
    assert KPI.objects.count() == 1
    assert not Assignment.objects.exists()
    detail = reverse("initiative_detail", args=[initiative_a.pk])
    assert reverse("kpi_create", args=[initiative_a.pk]).encode() not in (
        client.get(detail, {"tab": "outcomes"}).content
    )
    assert reverse("owners_edit", args=[initiative_a.pk]).encode() not in (
        client.get(detail).content
    )


def test_unit_lead_names_an_operator_and_then_clears_it(client, lead_a, member_a, initiative_a):
    client.force_login(lead_a)
    overview = client.get(reverse("initiative_detail", args=[initiative_a.pk]))
    assert reverse("owners_edit", args=[initiative_a.pk]).encode() in overview.content

    url = reverse("owners_edit", args=[initiative_a.pk])
    response = client.post(url, _owners_post(operator=member_a, requirements_owner=lead_a))
    assert response.status_code == 302
    assert dict(Assignment.objects.values_list("role", "user_id")) == {
        "operator": member_a.pk,
        "requirements_owner": lead_a.pk,
    }
    assert all(
        a.business_unit_id == initiative_a.business_unit_id for a in Assignment.objects.all()
    )

    response = client.post(url, _owners_post(requirements_owner=lead_a))
    assert response.status_code == 302
    assert dict(Assignment.objects.values_list("role", "user_id")) == {
        "requirements_owner": lead_a.pk
    }


def test_owner_choices_are_people_who_can_reach_the_unit_and_never_unit_b_only(
    client, lead_a, member_a, viewer_a, lead_b, pmo, coe, outsider, initiative_a_child
):
    client.force_login(lead_a)
    response = client.get(reverse("owners_edit", args=[initiative_a_child.pk]))
    assert response.status_code == 200
    offered = {value for value, _ in response.context["form"].fields["operator"].choices}
    # unit A sits above the child unit, so its members count; PMO and CoE are org-wide.
    assert {lead_a.pk, member_a.pk, viewer_a.pk, pmo.pk, coe.pk} <= offered
    assert lead_b.pk not in offered
    assert outsider.pk not in offered


def test_naming_a_unit_b_only_user_is_refused(client, lead_a, lead_b, initiative_a):
    client.force_login(lead_a)
    response = client.post(
        reverse("owners_edit", args=[initiative_a.pk]), _owners_post(operator=lead_b)
    )
    assert response.status_code == 400
    assert "operator" in response.context["form"].errors
    assert not Assignment.objects.exists()


def test_a_former_owner_without_access_is_named_and_replaced_on_save(
    client, lead_a, member_a, outsider, initiative_a
):
    AssignmentFactory(initiative=initiative_a, role="operator", user=outsider)
    client.force_login(lead_a)
    url = reverse("owners_edit", args=[initiative_a.pk])
    form = client.get(url).context["form"]
    assert "no longer has access" in form.fields["operator"].help_text
    client.post(url, _owners_post(operator=member_a))
    assert Assignment.objects.get(role="operator").user == member_a


def test_audit_trail_records_the_kpi_insert_and_edit_with_the_lead_as_actor(
    client, lead_a, initiative_a
):
    client.force_login(lead_a)
    client.post(reverse("kpi_create", args=[initiative_a.pk]), _kpi_post())
    kpi = KPI.objects.get()
    insert = Events.objects.tracks(kpi).filter(pgh_label="insert").get()
    assert insert.pgh_context["user"] == lead_a.pk

    client.post(reverse("kpi_edit", args=[initiative_a.pk, kpi.pk]), _kpi_post(unit="h"))
    update = Events.objects.tracks(kpi).filter(pgh_label="update").get()
    assert update.pgh_diff["unit"] == ["hours", "h"]
    assert update.pgh_context["user"] == lead_a.pk
