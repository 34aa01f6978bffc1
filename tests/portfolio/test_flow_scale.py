"""Issue 15: the flow page's "By unit" cohort table (one row per unit and start quarter,
hundreds at enterprise scale) is built in one pass, not by the template language cell by
cell: the same markup as the template loop it replaced, flat queries, scoped rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.template import engines
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portfolio import analytics
from portfolio.analytics import Cohort
from portfolio.views.flow import unit_cohort_rows
from tests import factories as f
from tests.portfolio.test_flow_analytics import portfolio  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

# The loop the template had before (templates/portfolio/flow.html, "By unit").
TEMPLATE_LOOP = (
    "{% load portfolio_ui %}{% for c in unit_cohorts %}<tr><td>{{ c.label }}</td>"
    '<td>{{ c.unit_name }}</td><td class="num">{{ c.started }}</td>'
    '<td class="num">{{ c.share_6|percent }}</td><td class="num">{{ c.share_12|percent }}</td>'
    '<td class="num">{{ c.share_18|percent }}</td>'
    '<td class="num">{{ c.share_killed|percent }}</td>'
    '<td class="num">{{ c.share_in_pilot|percent }}</td></tr>{% endfor %}'
)


def _cohort(n: int, **kwargs) -> Cohort:
    values = {
        "quarter": dt.date(2020 + n % 5, 1 + 3 * (n % 4), 1),
        "unit_id": n + 1,
        "unit_name": f"Unit {n}",
        "started": n + 1,
        "reached_6": n % 2,
        "reached_12": (n + 1) // 2,
        "reached_18": n,
        "killed": n % 3,
        "in_pilot": 1 if n else 0,
        "observable_6": n % 2 == 0,
        "observable_12": n % 3 == 0,
        "observable_18": True,
    }
    values.update(kwargs)
    return Cohort(**values)


def test_unit_cohort_rows_are_the_template_loops_markup_on_varied_rows():
    cohorts = [_cohort(n) for n in range(40)]
    cohorts += [
        _cohort(41, unit_name="R&D <\"Labs\"> 'West'", started=12345, reached_6=4115),
        _cohort(42, started=3, reached_6=1, reached_12=2, reached_18=3, killed=0, in_pilot=0),
        _cohort(43, started=7, reached_6=0, observable_6=False, observable_12=False),
    ]
    expected = engines["django"].from_string(TEMPLATE_LOOP).render({"unit_cohorts": cohorts})
    built = unit_cohort_rows(cohorts)
    assert str(built) == expected
    assert "&lt;&quot;Labs&quot;&gt;" in built and "33%" in built and "—" in built
    assert unit_cohort_rows([]) == ""


def _initiative(unit, code: str, started_days_ago: int, stage="proof_of_concept"):
    return f.InitiativeFactory(
        code=code,
        business_unit=unit,
        stage=stage,
        started_on=timezone.localdate() - dt.timedelta(days=started_days_ago),
        stage_entered_at=timezone.now() - dt.timedelta(days=started_days_ago),
    )


def test_flow_page_by_unit_table_matches_the_cohorts_with_flat_queries_and_scope(
    client, pmo, lead_a, unit_a, unit_b
):
    def page_as(user):
        client.force_login(user)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("flow"))
        assert response.status_code == 200
        return response, len(ctx.captured_queries)

    _initiative(unit_a, "AI-C-1", 400)
    _initiative(unit_b, "AI-C-2", 200, stage="initial_production")
    response, queries = page_as(pmo)
    html = response.content.decode()
    rows = [c for c in analytics.cohorts(pmo) if c.unit_id]
    assert {c.unit_name for c in rows} == {unit_a.name, unit_b.name}
    assert str(unit_cohort_rows(rows)) in html
    # More units, quarters and initiatives: more rows, the same queries.
    for n in range(12):
        unit = f.BusinessUnitFactory(code=f"BX{n}")
        _initiative(unit, f"AI-X-{n}", 30 * n + 5)
        _initiative(unit_a, f"AI-A-{n}", 90 * n + 10, stage="killed")
    response, more = page_as(pmo)
    rows = [c for c in analytics.cohorts(pmo) if c.unit_id]
    assert len(rows) > 20 and str(unit_cohort_rows(rows)) in response.content.decode()
    assert more == queries
    # The lead of unit A sees unit A's rows only; another unit's filter is a 404.
    response, _ = page_as(lead_a)
    html = response.content.decode()
    assert f"<td>{unit_a.name}</td>" in html and f"<td>{unit_b.name}</td>" not in html
    assert "<td>Unit BX0</td>" not in html
    assert client.get(reverse("flow") + f"?unit={unit_b.pk}").status_code == 404


@pytest.mark.usefixtures("portfolio")
def test_global_roles_figures_are_those_of_every_unit_listed_without_the_id_list(
    client, pmo, finance, lead_a, unit_a, unit_b
):
    """A global role's cohorts, stays and funnel skip the visible-ids subquery (the whole
    portfolio joined back against itself) and are the figures of every unit named."""
    from people.models import BusinessUnit

    every = list(BusinessUnit.objects.values_list("pk", flat=True))
    for user in (pmo, finance):
        with CaptureQueriesContext(connection) as ctx:
            figures = (
                analytics.cohorts(user),
                analytics.time_in_stage(user),
                analytics.funnel(user),
            )
        listed = [
            q["sql"]
            for q in ctx.captured_queries
            if 'IN (SELECT "portfolio_initiative"."id"' in q["sql"]
        ]
        assert not listed, listed
        assert figures == (
            analytics.cohorts(user, unit_ids=every),
            analytics.time_in_stage(user, unit_ids=every),
            analytics.funnel(user, unit_ids=every),
        )
    assert analytics.funnel(pmo)[0]["reached"] == 4
    # A lead's figures are their units' only, and a unit filter narrows a global role too.
    assert analytics.funnel(lead_a)[0]["reached"] == 2
    assert analytics.funnel(pmo, unit_ids=[unit_b.pk])[0]["reached"] == 2
    assert analytics.time_in_stage(lead_a) == analytics.time_in_stage(pmo, unit_ids=[unit_a.pk])
    assert analytics.cohorts(lead_a) != analytics.cohorts(pmo)
