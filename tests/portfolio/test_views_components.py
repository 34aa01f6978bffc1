"""The shared list-page components render and keep the query string."""

from decimal import Decimal

import pytest
from django.template import Context, RequestContext, Template
from django.test import RequestFactory

from portfolio.templatetags.portfolio_ui import money, money_exact, money_short, percent


def test_money_shows_currency_and_thousands_in_whole_units():
    assert money(Decimal("1250000.40"), "USD") == "USD 1,250,000"
    assert money_exact(Decimal("1250000.4"), "EUR") == "EUR 1,250,000.40"
    assert money_short(Decimal("1250000"), "USD") == "USD 1.3M"
    assert money(Decimal("-42.5"), "GBP") == "GBP -43"


def test_money_of_nothing_is_a_dash_not_zero():
    assert money(None, "USD") == "—"
    assert percent(None) == "—"
    assert percent(Decimal("0.425")) == "43%"


def _render(source, path):
    request = RequestFactory().get(path)
    return Template(source).render(Context({"request": request}))


def test_sort_header_toggles_direction_keeps_filters_and_drops_page():
    html = _render(
        '{% load portfolio_ui %}{% sort_header "name" "Name" %}', "/x/?stage=poc&page=3&sort=name"
    )
    assert 'aria-sort="ascending"' in html
    assert "sort=-name" in html and "stage=poc" in html and "page=3" not in html


@pytest.mark.django_db
def test_pagination_keeps_the_filters_in_its_links():
    from django.core.paginator import Paginator

    request = RequestFactory().get("/x/?stage=poc&page=2")
    page = Paginator(list(range(60)), 25).get_page(2)
    html = Template('{% include "components/pagination.html" %}').render(
        RequestContext(request, {"page_obj": page})
    )
    assert "?stage=poc&amp;page=3" in html
    assert "Showing 26–50 of 60" in html
