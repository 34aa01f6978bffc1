"""Issue 13, residue: a severe incident is acknowledged from its page, not only through
the API. The button is shown to exactly those ``incident_acknowledge`` allows (one
check, ``governance.acknowledge_incident``, asked by the template, the view and the
service); others get 403 (in scope) or 404 (another unit); a second acknowledgement is
refused with a message."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.models import Incident
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(initiative_a):
    return f.IncidentFactory(initiative=initiative_a, severity=Incident.Severity.CRITICAL)


def _ack_url(incident):
    return reverse("governance:incident_acknowledge", args=[incident.pk])


def _page(client, incident):
    return client.get(reverse("governance:incident_detail", args=[incident.pk]))


@pytest.mark.parametrize("who", ["lead_a", "member_a", "pmo", "coe"])
def test_the_escalation_path_sees_the_button_and_acknowledges(
    request, client, incident, who, django_assert_max_num_queries
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    with django_assert_max_num_queries(22):  # 19 measured for a unit lead
        page = _page(client, incident)
    assert page.status_code == 200
    assert _ack_url(incident) in page.content.decode()
    response = client.post(_ack_url(incident), {"note": "On it."})
    assert response.status_code == 302
    assert response.url == reverse("governance:incident_detail", args=[incident.pk])
    incident.refresh_from_db()
    assert incident.acknowledged_by_id == user.pk and incident.acknowledged_at is not None
    assert incident.timeline[-1]["event"] == "Acknowledged. On it."
    # Once acknowledged, the button is gone and the page says who took it.
    page = _page(client, incident).content.decode()
    assert _ack_url(incident) not in page
    assert "Acknowledged" in page


@pytest.mark.parametrize("who", ["viewer_a", "auditor", "finance"])
def test_a_role_that_may_not_acknowledge_sees_no_button_and_gets_403(
    request, client, incident, who
):
    client.force_login(request.getfixturevalue(who))
    page = _page(client, incident)
    if page.status_code == 200:
        assert _ack_url(incident) not in page.content.decode()
        assert client.post(_ack_url(incident)).status_code == 403
    else:
        assert page.status_code == 404  # finance does not see governance records
        assert client.post(_ack_url(incident)).status_code == 404
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_another_units_lead_gets_404(client, incident, lead_b):
    client.force_login(lead_b)
    assert _page(client, incident).status_code == 404
    assert client.post(_ack_url(incident)).status_code == 404
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_a_second_acknowledgement_is_refused_with_a_message(client, incident, lead_a, member_a):
    client.force_login(member_a)
    client.post(_ack_url(incident))
    client.force_login(lead_a)
    response = client.post(_ack_url(incident), follow=True)
    assert response.status_code == 200
    assert "already acknowledged" in response.content.decode()
    incident.refresh_from_db()
    assert incident.acknowledged_by_id == member_a.pk


def test_get_is_not_allowed(client, incident, lead_a):
    client.force_login(lead_a)
    assert client.get(_ack_url(incident)).status_code == 405
