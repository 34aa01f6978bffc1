"""The gate pages offer what the user may do, labelled for what it opens, and "Fix this"
opens the app's own forms, never the Django admin."""

from __future__ import annotations

import re

import pytest

from governance.services import gate_review_request

pytestmark = pytest.mark.django_db

HREF = re.compile(r'href="([^"]+)">Fix this')


def test_fix_this_links_open_the_apps_own_forms_for_a_member(
    client, standards, initiative_a, member_a
):
    client.force_login(member_a)
    page = client.get(f"/governance/gates/initiative/{initiative_a.pk}/").content.decode()
    links = HREF.findall(page)
    assert f"/initiatives/{initiative_a.pk}/kpis/new/" in links
    assert f"/initiatives/{initiative_a.pk}/owners/" in links
    assert not [url for url in links if url.startswith("/admin/")]
    for url in links:  # a member who is not staff can open every one of them
        assert client.get(url.replace("&amp;", "&")).status_code == 200, url


def test_the_team_is_offered_a_gate_review_request_on_the_initiative_page(
    client, standards, initiative_a, member_a
):
    client.force_login(member_a)
    page = client.get(f"/initiatives/{initiative_a.pk}/").content.decode()
    assert "Request a gate review" in page and "Record a gate decision" not in page
    gate = client.get(f"/governance/gates/initiative/{initiative_a.pk}/").content.decode()
    assert "Request the gate review" in gate


def test_a_decider_is_offered_the_decision_only_on_an_open_review(
    client, standards, initiative_a, member_a, coe
):
    client.force_login(coe)
    page = client.get(f"/initiatives/{initiative_a.pk}/").content.decode()
    assert "Record a gate decision" not in page and "Next gate checklist" in page
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    page = client.get(f"/initiatives/{initiative_a.pk}/").content.decode()
    assert "Record a gate decision" in page
    assert f'href="/governance/gates/{review.pk}/"' in page
    review_page = client.get(f"/governance/gates/{review.pk}/").content.decode()
    assert 'name="decision"' in review_page


def test_the_requester_is_not_offered_to_decide_their_own_review(
    client, standards, initiative_a, lead_a
):
    gate_review_request(acting_user=lead_a, initiative=initiative_a)
    client.force_login(lead_a)
    page = client.get(f"/initiatives/{initiative_a.pk}/").content.decode()
    assert "Record a gate decision" not in page and "Gate review open" in page


def test_a_viewer_is_offered_no_gate_button(client, standards, initiative_a, viewer_a):
    client.force_login(viewer_a)
    page = client.get(f"/initiatives/{initiative_a.pk}/").content.decode()
    assert "Request a gate review" not in page and "Record a gate decision" not in page


def test_finance_sees_stalled_initiatives_but_no_gate_page(
    client, standards, initiative_a, member_a, finance, lead_b
):
    """Finance reads initiatives, not gate reviews: the gate page of an initiative is a 404
    for it (with or without an open review), as for a lead of another unit, and the
    governance pages link finance to the initiative page instead."""
    url = f"/governance/gates/initiative/{initiative_a.pk}/"
    for user in (finance, lead_b):
        client.force_login(user)
        assert client.get(url).status_code == 404
    review = gate_review_request(acting_user=member_a, initiative=initiative_a)
    client.force_login(finance)
    assert client.get(url).status_code == 404
    assert client.get(f"/governance/gates/{review.pk}/").status_code == 404
    client.force_login(member_a)
    assert client.get(url).status_code == 302
