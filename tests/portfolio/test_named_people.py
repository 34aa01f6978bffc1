"""Issues 12 and 13, residue: one rule for who may be named as a person on a record
(``people.selectors.people_for_units``): initiative owners (owners form, assignments API,
admin), AI-system owners, dataset stewards and access-review reviewers. A unit lead is
never offered, and never gets accepted, someone with no role in the record's unit; PMO and
CoE may be named anywhere; finance and auditors are not named on records. Moving an
initiative whose owners have no access to the new unit is refused by the service, on
every path (API, web form, admin), with a message naming the roles to reassign."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from governance.forms import AccessReviewOpenForm
from governance.models import AISystem, Dataset
from portfolio.forms import OwnersForm
from portfolio.models import Assignment, Initiative
from portfolio.services import initiative_move
from tests import factories as f
from tests.admin_forms import post_change

pytestmark = pytest.mark.django_db


def test_owners_form_offers_people_of_the_unit_pmo_and_coe_only(
    initiative_a, lead_a, member_a, lead_b, pmo, coe, finance, auditor, outsider
):
    form = OwnersForm(initiative=initiative_a)
    offered = {pk for pk, _ in form.fields["operator"].choices if pk != ""}
    assert {lead_a.pk, member_a.pk, pmo.pk, coe.pk} <= offered
    assert not offered & {lead_b.pk, finance.pk, auditor.pk, outsider.pk}


@pytest.mark.parametrize("who", ["lead_b", "finance", "auditor", "outsider"])
def test_assignments_api_refuses_people_with_no_role_in_the_unit(
    request, who, lead_a, initiative_a
):
    person = request.getfixturevalue(who)
    client = APIClient()
    client.force_authenticate(lead_a)
    response = client.post(
        reverse("v1:assignment-list"),
        {"initiative": initiative_a.pk, "role": "operator", "user": person.pk},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "user" in response.json()["fields"]
    assert not Assignment.objects.filter(initiative=initiative_a).exists()


def test_assignments_api_accepts_a_member_of_the_unit_and_coe(lead_a, member_a, coe, initiative_a):
    client = APIClient()
    client.force_authenticate(lead_a)
    url = reverse("v1:assignment-list")
    for role, person in (("operator", member_a), ("coe_sponsor", coe)):
        body = {"initiative": initiative_a.pk, "role": role, "user": person.pk}
        assert client.post(url, body, format="json").status_code == 201


def test_dataset_steward_and_ai_system_owner_follow_the_rule(
    unit_a, initiative_a, member_a, lead_b, auditor
):
    for person in (lead_b, auditor):
        with pytest.raises(ValidationError) as err:
            Dataset(business_unit=unit_a, initiative=initiative_a, name="d", steward=person).clean()
        assert "steward" in err.value.message_dict
        with pytest.raises(ValidationError) as err:
            AISystem(business_unit=unit_a, initiative=initiative_a, name="s", owner=person).clean()
        assert "owner" in err.value.message_dict
    Dataset(business_unit=unit_a, initiative=initiative_a, name="d", steward=member_a).clean()


def test_admin_refuses_a_steward_from_another_unit(client, unit_a, lead_b, member_a):
    dataset = f.DatasetFactory(business_unit=unit_a, initiative=None, steward=member_a)
    client.force_login(f.UserFactory(username="root", is_staff=True, is_superuser=True))
    response = post_change(client, dataset, steward=lead_b.pk)
    assert response.status_code == 200
    assert "steward" in response.context["adminform"].form.errors
    dataset.refresh_from_db()
    assert dataset.steward_id == member_a.pk


def test_access_review_reviewer_choices_are_leads_of_the_unit_pmo_and_coe(
    lead_a, member_a, lead_b, pmo, coe, auditor, outsider, unit_a, unit_b
):
    form = AccessReviewOpenForm(user=lead_a)
    offered = set(form.fields["reviewer"].queryset)
    assert {lead_a, pmo, coe} <= offered
    assert not offered & {member_a, lead_b, auditor, outsider}
    # PMO sees both units' leads, but a reviewer must lead the chosen unit.
    form = AccessReviewOpenForm(
        {"business_unit": unit_a.pk, "reviewer": lead_b.pk, "due_on": "2099-01-01"}, user=pmo
    )
    assert not form.is_valid()
    assert "reviewer" in form.errors


# --- Moving an initiative whose owners have no access to the new unit --------------------


@pytest.fixture
def owned(initiative_a, member_a):
    f.AssignmentFactory(initiative=initiative_a, role="operator", user=member_a)
    return initiative_a


def _unchanged(initiative, unit_a):
    initiative.refresh_from_db()
    assert initiative.business_unit_id == unit_a.pk
    assert set(
        Assignment.objects.filter(initiative=initiative).values_list("business_unit_id", flat=True)
    ) == {unit_a.pk}


def test_service_refuses_a_move_that_strands_an_owner(owned, pmo, unit_a, unit_b, member_a):
    with pytest.raises(ValidationError) as err:
        initiative_move(acting_user=pmo, initiative=owned, business_unit=unit_b)
    assert "Operator" in err.value.message_dict["business_unit"][0]
    _unchanged(owned, unit_a)


def test_api_refuses_a_move_that_strands_an_owner(owned, pmo, unit_a, unit_b):
    client = APIClient()
    client.force_authenticate(pmo)
    url = reverse("v1:initiative-detail", args=[owned.pk])
    response = client.patch(url, {"business_unit": unit_b.pk, "name": "Moved"}, format="json")
    assert response.status_code == 400, response.content
    assert "business_unit" in response.json()["fields"]
    _unchanged(owned, unit_a)
    assert Initiative.objects.get(pk=owned.pk).name != "Moved"


def test_admin_refuses_a_move_that_strands_an_owner(client, owned, unit_a, unit_b):
    client.force_login(f.UserFactory(username="root", is_staff=True, is_superuser=True))
    response = post_change(client, owned, business_unit=unit_b.pk)
    assert response.status_code == 200
    _unchanged(owned, unit_a)


def test_web_form_refuses_a_move_that_strands_an_owner(client, owned, pmo, unit_a, unit_b):
    client.force_login(pmo)
    url = reverse("initiative_edit", args=[owned.pk])
    form = client.get(url).context["form"]
    data = {n: form[n].value() for n in form.fields if form[n].value() not in (None, "", [])}
    data["business_unit"] = unit_b.pk
    response = client.post(url, data)
    assert response.status_code == 200
    assert "business_unit" in response.context["form"].errors
    _unchanged(owned, unit_a)


def test_once_the_owner_is_cleared_the_move_goes_through(owned, pmo, unit_b):
    Assignment.objects.filter(initiative=owned).delete()
    initiative_move(acting_user=pmo, initiative=owned, business_unit=unit_b)
    owned.refresh_from_db()
    assert owned.business_unit_id == unit_b.pk


def test_a_units_named_lead_may_review_it_and_the_service_asks_the_same_rule(
    lead_a, member_a, lead_b, unit_a
):
    from governance.services import access_review_open, may_review_access

    assert may_review_access(lead_a, unit_a) and not may_review_access(member_a, unit_a)
    assert not may_review_access(lead_b, unit_a)
    with pytest.raises(ValidationError) as err:
        access_review_open(
            acting_user=lead_a, business_unit=unit_a, reviewer=member_a, due_on=_in_a_week()
        )
    assert "reviewer" in err.value.message_dict
    unit_a.lead = member_a
    unit_a.save(update_fields=["lead"])
    assert may_review_access(member_a, unit_a)
    assert member_a in AccessReviewOpenForm(user=lead_a).fields["reviewer"].queryset


def _in_a_week():
    import datetime as dt

    from django.utils import timezone

    return timezone.localdate() + dt.timedelta(days=7)


def test_pages_with_person_choices_have_a_flat_query_budget(
    client, lead_a, initiative_a, unit_a, django_assert_max_num_queries
):
    """The choices are one query each, however many people the organisation has."""
    for n in range(30):
        from people.models import UnitRole
        from tests.conftest import _member

        _member(f.UserFactory(username=f"person-{n}"), unit_a, UnitRole.LEAD if n % 2 else "member")
    client.force_login(lead_a)
    for url, budget in (
        (reverse("governance:access_review_create"), 14),  # 13 measured
        (reverse("owners_edit", args=[initiative_a.pk]), 13),  # 12 measured
    ):
        with django_assert_max_num_queries(budget):
            assert client.get(url).status_code == 200, url
