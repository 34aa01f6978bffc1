"""Browser tests: Playwright (Python) driving Debian's Chromium against ``live_server``.

- Chromium comes from the system (``/usr/bin/chromium``), never ``playwright install``.
- Without Chromium the tests skip, saying how to install it; with ``CI=true`` they fail.
- Static files (Bootstrap, Chart.js) are served by WhiteNoise through the finders
  (``WHITENOISE_USE_FINDERS``), so pages look and behave as in production.
- Screenshots go to ``test-results/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by
# the test (factories, assertions) are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = "Chromium is not installed: run `apt-get install -y chromium chromium-driver`"
SCREENSHOTS = Path(os.environ.get("TEST_RESULTS_DIR", "test-results")) / "screenshots"
PASSWORD = "pw"  # tests.factories.UserFactory's password


def _chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


@pytest.fixture(scope="session")
def browser():
    if not _chromium_available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{INSTALL_HINT} (CI=true: browser tests must run, not skip)")
        pytest.skip(INSTALL_HINT)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip("The playwright Python package is not installed.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()


@pytest.fixture
def sign_in(page):
    def _sign_in(user):
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.get_username())
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    return _sign_in


@pytest.fixture
def screenshot(page):
    def _shot(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot
