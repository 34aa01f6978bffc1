"""Issue 15: Governance -> Stalled reads one page, not the whole portfolio. Its default sort
(longest in stage first) and its "last activity" sort walk an index on (column, id), so the
page query stops at the page instead of judging and sorting every active initiative; the
rows, their order and the counts are those of the one stall rule."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.selectors import stalled_initiatives
from portfolio.models import StagePolicy
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def portfolio(unit_a, unit_b):
    StagePolicy.objects.create(
        stage="proof_of_concept", limit_days=100, inactivity_days=10_000, decision_days=14
    )
    now = timezone.now()
    rows = []
    # Stalled (past the limit), some sharing a stage date so the pk breaks the tie.
    for n, days in enumerate([400, 300, 300, 250, 200, 150, 300]):
        rows.append(
            f.InitiativeFactory(
                code=f"AI-S-{n}",
                business_unit=unit_a if n % 2 else unit_b,
                stage="proof_of_concept",
                stage_entered_at=now - dt.timedelta(days=days),
            )
        )
    # Not stalled: inside the limit, or closed, or ended.
    f.InitiativeFactory(
        code="AI-FRESH",
        business_unit=unit_a,
        stage="proof_of_concept",
        stage_entered_at=now - dt.timedelta(days=10),
    )
    f.InitiativeFactory(
        code="AI-KILLED",
        business_unit=unit_a,
        stage="killed",
        stage_entered_at=now - dt.timedelta(days=900),
    )
    return rows


def _codes(response) -> list[str]:
    return [i.code for i in response.context["page_obj"].object_list]


def _expected(rows, sort: str) -> list[str]:
    """The order ``sort_queryset`` promises: by the column, ties by pk in the same
    direction, nulls last either way."""
    column = {"entered": "stage_entered_at", "activity": "last_activity_on", "code": "code"}[
        (sort or "entered").lstrip("-")
    ]
    descending = sort.startswith("-")
    known = [r for r in rows if getattr(r, column) is not None]
    unknown = [r for r in rows if getattr(r, column) is None]
    known.sort(key=lambda r: (getattr(r, column), r.pk), reverse=descending)
    unknown.sort(key=lambda r: r.pk, reverse=descending)
    return [r.code for r in known + unknown]


@pytest.mark.parametrize("sort", ["", "entered", "-entered", "activity", "-activity", "code"])
def test_stalled_page_lists_the_stall_rules_rows_in_the_sorts_order(client, pmo, portfolio, sort):
    client.force_login(pmo)
    response = client.get(reverse("governance:stalled_list") + (f"?sort={sort}" if sort else ""))
    rows = list(stalled_initiatives(pmo))
    assert len(rows) == 7
    assert _codes(response) == _expected(rows, sort)
    assert response.context["page_obj"].paginator.count == 7


def test_stalled_page_pages_through_every_row_once(client, pmo, portfolio, monkeypatch):
    from governance import views
    from portfolio.views.listing import paginate

    monkeypatch.setattr(views, "paginate", lambda request, qs: paginate(request, qs, per_page=3))
    client.force_login(pmo)
    url = reverse("governance:stalled_list")
    seen = []
    for page in (1, 2, 3):
        seen += _codes(client.get(url, {"page": page}))
    assert seen == _expected(list(stalled_initiatives(pmo)), "")
    assert sorted(seen) == sorted(i.code for i in portfolio)


def test_stalled_page_default_sort_reads_the_entered_index(pmo, portfolio):
    """The default order is served by the (stage_entered_at, id) index: with sorting made
    expensive, PostgreSQL reads the index in order under the LIMIT."""
    from portfolio.views.listing import sort_queryset

    class Request:
        GET = {}

    qs = sort_queryset(
        stalled_initiatives(pmo),
        Request,
        {"entered": "stage_entered_at"},
        default="entered",
    )[:25]
    sql, params = qs.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "initiative_entered_id" in plan
    assert "Sort Key: portfolio_initiative.stage_entered_at" not in plan


def test_stalled_page_query_count_does_not_grow_and_scopes_to_the_lead(
    client, pmo, lead_b, unit_a, portfolio
):
    client.force_login(pmo)
    url = reverse("governance:stalled_list")
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    before = len(ctx.captured_queries)
    now = timezone.now()
    for n in range(30):
        f.InitiativeFactory(
            code=f"AI-MORE-{n}",
            business_unit=unit_a,
            stage="proof_of_concept",
            stage_entered_at=now - dt.timedelta(days=500 + n),
        )
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert len(ctx.captured_queries) == before
    assert response.context["page_obj"].paginator.count == 37
    # The lead of unit B sees unit B's stalled rows only, however many unit A has.
    client.force_login(lead_b)
    rows = client.get(url, {"per_page": 100}).context["page_obj"].object_list
    assert rows and {i.business_unit_id for i in rows} == {lead_b_unit(lead_b)}


def lead_b_unit(user) -> int:
    from people.models import UnitMembership

    return UnitMembership.objects.get(user=user).business_unit_id
