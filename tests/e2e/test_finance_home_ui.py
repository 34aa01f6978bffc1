"""The finance home in a real Chromium at the widths finance works at (1,440 and 1,280 px):
the half-width budget tables fit their cards, an overspend is in the danger style, and the
operational-share line is drawn over the bars (#16)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from finance.models import current_fiscal_year
from tests.factories import BudgetFactory, SpendEntryFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DANGER = "rgb(180, 35, 24)"  # --bs-danger, the app's #b42318


@pytest.fixture
def overspent(finance, lead_a, initiative_a, initiative_b):
    """A year where operational spend runs millions over its budget (USD 7.5M in the report)."""
    year = current_fiscal_year()
    for initiative, kind, category, amount in [
        (initiative_a, "one_time", "compute", "15200000"),
        (initiative_a, "operational", "compute", "100000"),
        (initiative_b, "one_time", "personnel", "9600000"),
        (initiative_b, "operational", "vendor", "2400000"),
    ]:
        BudgetFactory(
            initiative=initiative,
            fiscal_year=year,
            kind=kind,
            category=category,
            amount=Decimal(amount),
            status="approved",
            requested_by=lead_a,
            approved_by=finance,
            decided_at=timezone.now(),
        )
    today = timezone.localdate()
    for back in range(11):
        month = (today.replace(day=1) - dt.timedelta(days=31 * back)).replace(day=3)
        if month.year != year:
            continue
        SpendEntryFactory(
            initiative=initiative_a, posted_on=month, kind="operational", amount=Decimal("760000")
        )
        SpendEntryFactory(
            initiative=initiative_b,
            posted_on=month,
            kind="one_time",
            category="personnel",
            amount=Decimal("480000"),
        )


OVERFLOW_JS = """() => [...document.querySelectorAll('table')].filter(t => t.caption).map(t => {
    const box = t.closest('.table-responsive') || t.parentElement;
    const card = t.closest('.card');
    return {caption: t.caption.textContent.trim(), table: box.scrollWidth, box: box.clientWidth,
            card: card ? card.getBoundingClientRect().right : 0,
            cell: t.getBoundingClientRect().right};
})"""

#: The order Chart.js really draws the mix chart's datasets in (each controller's draw
#: is wrapped, then the chart redrawn).
DRAW_ORDER_JS = """() => {
    const chart = Chart.getChart('mix-chart');
    const drawn = [];
    chart.getSortedVisibleDatasetMetas().forEach(meta => {
        const draw = meta.controller.draw.bind(meta.controller);
        meta.controller.draw = () => { drawn.push(meta.type + ':' + meta.label); draw(); };
    });
    chart.draw();
    return drawn;
}"""


@pytest.mark.parametrize("width", [1440, 1280])
def test_finance_home_tables_fit_overspend_is_danger_and_share_line_is_over_the_bars(
    overspent, finance, page, sign_in, screenshot, width
):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(finance)
    expect(page.get_by_role("heading", level=1)).to_have_text("AI spend and budgets")
    page.wait_for_function("() => window.Chart && Chart.getChart('mix-chart')")
    screenshot(f"home-finance-{width}")

    tables = {t["caption"]: t for t in page.evaluate(OVERFLOW_JS)}
    for caption in (
        "Budget versus actual by kind",
        "Budget versus actual by category",
        "Budget versus actual by unit",
    ):
        t = tables[caption]
        assert t["table"] <= t["box"], (width, t)  # no horizontal scroll inside the card
        assert t["cell"] <= t["card"] + 0.5, (width, t)
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    kind_table = page.get_by_role("table", name="Budget versus actual by kind")
    over = kind_table.get_by_role("row", name="Operational").locator("td.variance-over")
    expect(over).to_contain_text(re.compile(r"USD -\d+(\.\d)?M"))
    expect(over).to_contain_text("over budget")
    style = over.evaluate(
        "td => ({color: getComputedStyle(td).color, shadow: getComputedStyle(td).boxShadow})"
    )
    assert style["color"] == DANGER, style
    assert "254, 243, 242" in style["shadow"], style  # the danger tint (#fef3f2) fills it
    fine = kind_table.get_by_role("row", name="One-time").locator("td").nth(3)
    assert fine.evaluate("td => getComputedStyle(td).color") != DANGER

    drawn = page.evaluate(DRAW_ORDER_JS)
    assert drawn[-1] == "line:Operational share (%)", drawn
    assert all(d.startswith("bar:") for d in drawn[:-1]), drawn
    assert page.console_errors == []
