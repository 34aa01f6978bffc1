"""Home-page counts link to the rows they count through URL names (``{% url %}``), not
hard-coded paths: served under a sub-path, every link keeps it (#16)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.urls import resolve, reverse, set_script_prefix

pytestmark = pytest.mark.django_db

PREFIX = "/portfolio-app"

#: role -> {count label: (URL name, query)}
EXPECTED = {
    "pmo": {
        "Active initiatives": ("initiative_list", {"attention": ["active"]}),
        "In proof of concept": ("initiative_list", {"stage": ["proof_of_concept"]}),
        "Governance gaps": ("initiative_list", {"attention": ["governance_gap"]}),
    },
    "lead_a": {
        "Overdue risk reviews": ("governance:risk_assessment_list", {"overdue": ["true"]}),
        "Initiatives with a KPI not measured": ("initiative_list", {"attention": ["stale_kpi"]}),
        "Budgets awaiting finance": ("finance:budget_list", {"status": ["requested"]}),
        "Open incidents": ("governance:incident_list", {"open": ["true"]}),
    },
    "finance": {
        "Awaiting approval": ("finance:budget_list", {"status": ["requested"]}),
    },
}

COUNT_LINK = re.compile(r'data-count-label="([^"]+)"><a class="text-reset" href="([^"]+)">', re.S)


@pytest.fixture
def served_under_a_sub_path():
    """As under a proxy that mounts the app at PREFIX (WSGI SCRIPT_NAME): the test
    client does not set the script prefix from the environ, so set it here."""
    set_script_prefix(PREFIX + "/")
    yield
    set_script_prefix("/")


@pytest.mark.parametrize("who", list(EXPECTED))
def test_home_counts_link_through_url_names_and_keep_the_script_prefix(
    client, request, who, served_under_a_sub_path
):
    client.force_login(request.getfixturevalue(who))
    response = client.get("/", SCRIPT_NAME=PREFIX)
    assert response.status_code == 200
    html = response.content.decode()
    links = {label: href.replace("&amp;", "&") for label, href in COUNT_LINK.findall(html)}
    for label, (name, query) in EXPECTED[who].items():
        href = links[label]
        parts = urlsplit(href)
        assert parts.path.startswith(PREFIX + "/"), (label, href)
        path = parts.path[len(PREFIX) :]
        assert resolve(path).view_name == name, (label, href)
        assert parts.path == reverse(name)
        assert parse_qs(parts.query) == query, (label, href)
    # Every app link on the page (navigation included) keeps the prefix (static files go
    # by the storage's URL, which it caches once per process: not checked here).
    for href in re.findall(r'href="(/[^"]*)"', html):
        if "/static/" not in href:
            assert href.startswith(PREFIX + "/"), href


def test_no_template_hard_codes_an_app_path():
    """Links and form actions come from ``{% url %}``; only static files are literal."""
    offenders = []
    for template in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        for m in re.finditer(r'(?:href|action|hx-get|hx-post)="(/[^"]*)"', template.read_text()):
            if not m.group(1).startswith("/static/"):
                offenders.append(f"{template.name}: {m.group(1)}")
    assert offenders == []
