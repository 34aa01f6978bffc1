"""axe-core (npm, ``node_modules/axe-core``) on every kind of page the crawl reaches, for a
few roles of the demo, in Debian's Chromium: zero serious or critical violations.

The pages come from the same crawler as ``tests/foundation/test_crawl.py``; each kind of
page (URL pattern plus tab) is checked once, by the first role that reaches it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.crawler import crawl, pattern_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
ROLES = ["pmo", "finance", "lead-retail", "retail-analyst"]
#: The crawl per role stops after this many requests (the navigation and the pages one
#: click away), and each kind of page is checked once: the suite has a time budget.
CRAWL_REQUESTS = 45
BLOCKING = {"serious", "critical"}
REPORT = Path(os.environ.get("TEST_RESULTS_DIR", "test-results")) / "axe-report.json"


def _kind(url: str) -> tuple:
    parts = urlsplit(url)
    return (pattern_of(parts.path) or parts.path, tuple(parse_qs(parts.query).get("tab", [])))


def _sign_in(page, live_server, user) -> None:
    """A session cookie made by the test client: no password round trip per role."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.clear_cookies()
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


@pytest.fixture
def page(browser, live_server):
    """A page whose context lets axe be injected: the app's CSP (script-src 'self')
    rightly refuses inline scripts, and axe-core is one."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}, bypass_csp=True
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_axe_finds_no_serious_or_critical_violation_on_any_crawled_page(
    page, live_server, screenshot, capsys
):
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `make assets` (npm ci) first.")
    call_command("seed_demo", "--force", verbosity=0)
    users = get_user_model().objects
    checked: set[tuple] = set()
    counts: dict[str, dict[str, int]] = {}
    failures: list[str] = []
    for username in ROLES:
        user = users.get(username=username)
        pages = [
            url
            for url in crawl(user, max_requests=CRAWL_REQUESTS).pages
            if _kind(url) not in checked
        ]
        _sign_in(page, live_server, user)
        counts[username] = {"pages": 0, "violations": 0, "serious_or_critical": 0}
        for url in pages:
            checked.add(_kind(url))
            response = page.goto(url)
            assert response is not None and response.status == 200, (username, url)
            page.add_script_tag(path=str(AXE))
            result = page.evaluate(
                "async () => await axe.run(document, {resultTypes: ['violations']})"
            )
            counts[username]["pages"] += 1
            for violation in result["violations"]:
                nodes = len(violation["nodes"])
                counts[username]["violations"] += nodes
                if violation["impact"] in BLOCKING:
                    counts[username]["serious_or_critical"] += nodes
                    target = violation["nodes"][0]["target"]
                    failures.append(
                        f"{username} {url}: {violation['id']} ({violation['impact']}, "
                        f"{nodes} node{'s' if nodes > 1 else ''}) e.g. {target}: "
                        f"{violation['nodes'][0]['failureSummary'][:200]}"
                    )
        page.goto("/")
        screenshot(f"home-{username}")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"counts": counts, "failures": failures}, indent=2))
    with capsys.disabled():
        print(f"\n[axe] {json.dumps(counts)}")
    assert failures == []
