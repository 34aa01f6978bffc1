"""What a user is offered, they may do: sign in as every role of the demo, crawl every page
reachable from the navigation, follow every link and submit every form found there.

Zero 403, 404, 405 or 500 answers, and every count on a home page links to a list showing
exactly that many rows. The crawler lives in ``tests/crawler.py`` and is shared with the
browser axe test.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.crawler import crawl, parse

#: One user per role of the demo: the four global roles, a lead of a unit with child
#: units, a viewer, and a member of a child unit (whose parent unit is out of scope).
ROLES = [
    "pmo",
    "finance",
    "coe",
    "auditor",
    "lead-retail",
    "retail-analyst",
    "cards-owner",
]


TOTAL = re.compile(r'data-total="(\d+)"')


@pytest.fixture
def demo(db, settings):
    """The demo bank, loaded inside the test's transaction (rolled back after it)."""
    call_command("seed_demo", "--force", verbosity=0)
    return get_user_model().objects


def _counts_problems(user) -> list[str]:
    """Each count on the home page links to a list showing exactly that many rows."""
    client = Client()
    client.force_login(user)
    problems = []
    counts = parse(client.get("/").content.decode()).counts
    for count in counts:
        if not count.href:
            problems.append(f"{count.label} does not link to its rows")
            continue
        response = client.get(count.href)
        total = TOTAL.search(response.content.decode())
        shown = int(total.group(1)) if total else 0  # an empty list shows no pager
        if response.status_code != 200 or shown != int(count.value):
            problems.append(
                f"{count.label}: home says {count.value}, {count.href} answers "
                f"{response.status_code} with {shown} rows"
            )
    return problems


@pytest.mark.slow
def test_every_page_link_button_and_count_offered_to_each_role_works(demo, capsys):
    """One test for every role: the demo is loaded once (about 10 s)."""
    problems: dict[str, list] = {}
    for username in ROLES:
        user = demo.get(username=username)
        result = crawl(user)
        counts = _counts_problems(user)
        with capsys.disabled():
            print(
                f"\n[crawl] {username}: {len(result.pages)} pages crawled "
                f"({len(result.nav_pages)} from the navigation), {result.links_followed} "
                f"links followed, {result.forms_posted} forms submitted, {result.skipped} "
                f"links of an already-checked kind skipped, {len(result.home_counts)} home "
                "counts checked"
            )
        assert len(result.nav_pages) >= 5, (username, result.nav_pages)
        if result.problems or counts:
            problems[username] = [str(p) for p in result.problems] + counts
    assert problems == {}
