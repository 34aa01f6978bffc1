"""Crawl the app as one signed-in user with Django's test client.

Starts at the home page, visits every page reachable from the navigation, and on each
page it visits follows every link (GET) and submits every form (GET forms: the action
answers; POST forms: the form as rendered, inside a savepoint that is rolled back, so the
role's right to press that button is checked by the view itself). A URL pattern is parsed
for further links at most ``per_pattern`` times per set of query parameters (the tenth
initiative page has the same buttons as the first); the links skipped that way are
counted. Every link in a navigation bar is requested.

Used by ``tests/foundation/test_crawl.py`` (status codes, counts) and the browser axe test
(the list of pages to check).
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urldefrag, urljoin, urlsplit

from django.db import transaction
from django.test import Client
from django.urls import Resolver404, resolve

#: Never followed: leaving the session, the Django admin's own pages (the admin is for
#: administrators; only its index is checked), static files and the API browser.
SKIP_PREFIXES = ("/accounts/logout/", "/static/", "/media/", "/api/")
#: Links whose target is an attachment or a long export: requested, not parsed.
NOT_HTML = re.compile(r"(/download/|export|\.csv$|\.xlsx$)")


@dataclasses.dataclass
class Form:
    action: str
    method: str
    data: dict[str, list[str]]
    label: str
    has_submit: bool  # a form without a submit button offers nothing to press


@dataclasses.dataclass
class Count:
    """A ``data-count`` element on a page: the number shown and the link inside it."""

    label: str
    value: str
    href: str | None


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, bool]] = []  # (href, text, in nav)
        self.forms: list[Form] = []
        self.counts: list[Count] = []
        self._navs: list[bool] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._textarea: str | None = None
        self._link: list | None = None
        self._count: Count | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "nav":
            # The main navigation and the section navigations, not pagination.
            label = (a.get("aria-label") or "").lower()
            self._navs.append(label == "main" or "sections" in label)
        if tag == "a" and a.get("href") is not None:
            self._link = [a["href"], "", any(self._navs)]
            if self._count is not None:
                self._count.href = a["href"]
                self._count = None
        if a.get("data-count") is not None:
            self._count = Count(
                label=a.get("data-count-label") or "", value=a["data-count"], href=None
            )
            self.counts.append(self._count)
        if tag == "form":
            self._form = Form(
                action=a.get("action") or "",
                method=(a.get("method") or "get").lower(),
                data={},
                label="",
                has_submit=False,
            )
        elif self._form is not None:
            name = a.get("name")
            if tag == "input" and name:
                kind = (a.get("type") or "text").lower()
                if kind in ("checkbox", "radio"):
                    if "checked" in a:
                        self._form.data.setdefault(name, []).append(a.get("value") or "on")
                elif kind in ("submit", "image"):
                    self._form.has_submit = True
                elif kind in ("button", "file"):
                    pass
                else:
                    self._form.data.setdefault(name, []).append(a.get("value") or "")
            elif tag == "button" and (a.get("type") or "submit") == "submit":
                self._form.has_submit = True
                if name:
                    self._form.data.setdefault(name, []).append(a.get("value") or "")
            elif tag == "select" and name:
                self._select, self._select_first, self._select_chosen = name, None, False
            elif tag == "option" and self._select:
                value = a.get("value") or ""
                if self._select_first is None:
                    self._select_first = value
                if "selected" in a and not self._select_chosen:
                    self._form.data.setdefault(self._select, []).append(value)
                    self._select_chosen = True
            elif tag == "textarea" and name:
                self._textarea = name
                self._form.data.setdefault(name, []).append("")

    def handle_endtag(self, tag):
        if tag == "nav" and self._navs:
            self._navs.pop()
        if tag == "a" and self._link is not None:
            self.links.append(tuple(self._link))
            self._link = None
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        if tag == "select" and self._select and self._form is not None:
            if not self._select_chosen and self._select_first is not None:
                self._form.data.setdefault(self._select, []).append(self._select_first)
            self._select = None
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._link is not None:
            self._link[1] += data
        if self._form is not None and self._textarea:
            self._form.data[self._textarea][-1] += data
        if self._form is not None and not self._form.label and data.strip():
            self._form.label = data.strip()[:60]
        if self._count is not None and data.strip():
            self._count = None  # the number is shown without a link


def parse(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    return parser


def pattern_of(path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name


@dataclasses.dataclass
class Problem:
    url: str
    status: int | str
    found_on: str
    via: str

    def __str__(self):
        return f"{self.status} {self.via} {self.url} (found on {self.found_on})"


@dataclasses.dataclass
class CrawlResult:
    user: str
    pages: list[str] = dataclasses.field(default_factory=list)  # parsed HTML pages
    nav_pages: list[str] = dataclasses.field(default_factory=list)
    requested: dict[str, int] = dataclasses.field(default_factory=dict)
    forms_posted: int = 0
    skipped: int = 0  # links of a kind already requested ``per_pattern`` times
    problems: list[Problem] = dataclasses.field(default_factory=list)
    home_counts: list[Count] = dataclasses.field(default_factory=list)

    @property
    def links_followed(self) -> int:
        return len(self.requested)


#: Query parameters whose value does not change what a page offers (only its order or slice).
SAME_PAGE_PARAMS = {"sort", "page"}


def _query_kind(query: str) -> tuple:
    """``tab=money`` is another page; ``sort=name`` or ``initiative=42`` is the same page."""
    return tuple(
        sorted(
            (key, "" if key in SAME_PAGE_PARAMS or value.isdigit() else value)
            for key, values in parse_qs(query).items()
            for value in values
        )
    )


def _local(base: str, href: str) -> str | None:
    href = (href or "").strip()
    if not href or href.startswith(("mailto:", "tel:", "javascript:", "data:")):
        return None
    url = urldefrag(urljoin(base, href))[0]
    parts = urlsplit(url)
    if parts.netloc and parts.netloc not in ("testserver", ""):
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if not path or path.startswith(SKIP_PREFIXES):
        return None
    return path


def crawl(user, *, per_pattern: int = 2, max_requests: int = 600) -> CrawlResult:
    """Crawl as ``user``; see the module docstring."""
    client = Client(raise_request_exception=False)
    client.force_login(user)
    result = CrawlResult(user=user.get_username())
    queue: list[tuple[str, str, str]] = [("/", "start", "")]  # (url, found on, via)
    seen: set[str] = {"/"}
    posted: set[tuple[str, tuple]] = set()

    def get(url: str, found_on: str, via: str):
        response = client.get(url)
        result.requested[url] = response.status_code
        if response.status_code in (403, 404, 405) or response.status_code >= 500:
            result.problems.append(Problem(url, response.status_code, found_on, via))
        return response

    requested_per_kind: dict[tuple, int] = {}

    while queue and len(result.requested) < max_requests:
        url, found_on, via = queue.pop(0)
        parts = urlsplit(url)
        kind = (pattern_of(parts.path) or parts.path, _query_kind(parts.query))
        if via not in ("start", "nav") and requested_per_kind.get(kind, 0) >= per_pattern:
            result.skipped += 1
            continue
        requested_per_kind[kind] = requested_per_kind.get(kind, 0) + 1
        response = get(url, found_on, via)
        if response.status_code in (301, 302):
            target = _local(url, response["Location"])
            if target and target not in seen and not target.startswith("/accounts/login/"):
                seen.add(target)
                queue.append((target, url, "redirect"))
            elif target and target.startswith("/accounts/login/"):
                result.problems.append(Problem(url, "login redirect", found_on, via))
            continue
        if response.status_code != 200 or NOT_HTML.search(urlsplit(url).path):
            continue
        if "text/html" not in response.get("Content-Type", "") or url.startswith("/admin/"):
            continue
        result.pages.append(url)
        if via == "nav":
            result.nav_pages.append(url)
        page = parse(response.content.decode())
        if url == "/":
            result.home_counts = page.counts
        for href, _text, in_nav in page.links:
            target = _local(url, href)
            if target is None or target in seen:
                continue
            if urlsplit(target).path.startswith("/admin/") and urlsplit(target).path != "/admin/":
                continue
            seen.add(target)
            queue.append((target, url, "nav" if in_nav else "link"))
        for form in page.forms:
            action = _local(url, form.action) if form.action else url
            if action is None or not form.has_submit:
                continue
            if form.method == "get":
                if action not in seen:
                    seen.add(action)
                    queue.append((action, url, "form GET"))
                continue
            key = (pattern_of(urlsplit(action).path) or action, tuple(sorted(form.data)))
            if key in posted:
                continue
            posted.add(key)
            result.forms_posted += 1
            with transaction.atomic():
                response = client.post(action, dict(form.data.items()))
                transaction.set_rollback(True)
            status = response.status_code
            if status in (403, 404, 405) or status >= 500:
                result.problems.append(Problem(action, status, url, f"form POST {form.label!r}"))
    return result
