"""One named check per action (``people.permissions``), asked by the view and by the
template that offers the action, so the two cannot disagree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.template import Context, Template

from people.permissions import actions, can, require

TEMPLATES = Path(settings.BASE_DIR) / "templates"
CAN_TAG = re.compile(r'{%\s*can\s+"([^"]+)"')


def test_every_action_a_template_asks_about_is_a_registered_check():
    asked = {m for path in TEMPLATES.rglob("*.html") for m in CAN_TAG.findall(path.read_text())}
    assert asked, "templates ask {% can %}"
    assert asked - set(actions()) == set()


def test_an_unknown_action_is_an_error_not_a_silent_no(pmo):
    with pytest.raises(KeyError):
        can(pmo, "finance.no_such_action")


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("pmo", False), ("coe", False), ("auditor", False), ("viewer_a", False), ("finance", True)],
)
def test_import_spend_is_offered_exactly_to_whom_the_view_lets_in(request, client, who, allowed):
    user = request.getfixturevalue(who)
    client.force_login(user)
    nav = client.get("/finance/").content.decode()
    assert ('href="/finance/spend/import/"' in nav) is allowed
    assert client.get("/finance/spend/import/").status_code == (200 if allowed else 403)
    assert can(user, "finance.import_spend") is allowed


def test_a_unit_lead_may_import_spend_and_is_offered_it(client, lead_a):
    client.force_login(lead_a)
    assert 'href="/finance/spend/import/"' in client.get("/finance/").content.decode()
    assert client.get("/finance/spend/import/").status_code == 200


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("pmo", True), ("auditor", True), ("finance", False), ("coe", False), ("lead_a", False)],
)
def test_audit_log_is_in_the_navigation_only_for_who_may_read_it(request, client, who, allowed):
    client.force_login(request.getfixturevalue(who))
    nav = client.get("/governance/").content.decode()
    assert ('href="/governance/audit/"' in nav) is allowed
    assert client.get("/governance/audit/").status_code == (200 if allowed else 403)


def test_require_raises_permission_denied(auditor):
    with pytest.raises(PermissionDenied):
        require(auditor, "finance.import_spend")


def test_the_template_tag_is_false_on_a_missing_object(lead_a):
    out = Template('{% load permissions %}{% can "portfolio.see_unit" nothing as ok %}{{ ok }}')
    assert out.render(Context({"user": lead_a, "nothing": None})) == "False"
