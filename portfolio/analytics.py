"""Portfolio flow analytics: how pilots move (or do not) through the stages.

- cohorts of initiatives by the quarter they started (and by unit): the share that reached
  initial production within 6, 12 and 18 months, the share killed, the share still in pilot;
- time in each stage (median and 90th percentile of completed stays, from the stage
  history; holds do not split a stay, inventory imports are not decisions);
- the funnel: how many ever reached each stage, and the conversion rate to the next;
- the pilot graveyard: every kill and retirement with its sunk cost (original currency
  kept, converted at the rate of the decision's day), reasons, lessons, salvaged assets and
  the initiatives that reused them; full-text search; totals by unit and year.

Everything is computed by PostgreSQL, scoped by the units ``Initiative.objects.visible_to``
keeps: one query per section. Cohorts, funnel and time in stage read the maintained flow
rollups (``portfolio.flow_rollup``: counts per unit and start quarter, and every stay,
indexed so that a percentile is read at its rank), so they do not grow with the
portfolio's history. Composed in portfolio (it reads finance's exchange rates lazily).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import ExtractYear
from django.utils import timezone

from people.models import BusinessUnit
from portfolio import crossapp, flow_rollup
from portfolio.choices import ACTIVE_STAGES
from portfolio.models import Initiative, StageTransition

END_DECISIONS = [StageTransition.Decision.KILL, StageTransition.Decision.RETIRE]


def _fetch(sql: str, params) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cols = [c.name for c in cursor.description]
        return [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]


# --- Cohorts ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Cohort:
    quarter: dt.date
    unit_id: int | None  # None: every unit
    unit_name: str
    started: int
    reached_6: int
    reached_12: int
    reached_18: int
    killed: int
    in_pilot: int
    observable_6: bool  # every member has had 6 months
    observable_12: bool
    observable_18: bool

    def share(self, n: int) -> Decimal | None:
        return _share(n, self.started)

    @staticmethod
    def share_of(n: int, started: int) -> Decimal | None:
        """``n`` of ``started`` to four places (None for an empty cohort)."""
        return _share(n, started)

    @property
    def label(self) -> str:
        return f"{self.quarter.year} Q{(self.quarter.month - 1) // 3 + 1}"

    @property
    def share_6(self):
        return self.share(self.reached_6) if self.observable_6 else None

    @property
    def share_12(self):
        return self.share(self.reached_12) if self.observable_12 else None

    @property
    def share_18(self):
        return self.share(self.reached_18) if self.observable_18 else None

    @property
    def share_killed(self):
        return self.share(self.killed)

    @property
    def share_in_pilot(self):
        return self.share(self.in_pilot)


@lru_cache(maxsize=65536)
def _share(n: int, started: int) -> Decimal | None:
    return (Decimal(n) / started).quantize(Decimal("0.0001")) if started else None


def _months_later(day: dt.date, months: int) -> dt.date:
    m = day.month - 1 + months
    return dt.date(day.year + m // 12, m % 12 + 1, 1)


def _unit_scope(user, unit_ids=None) -> tuple[str, tuple]:
    """A condition on the flow rollup's ``r.business_unit_id`` keeping the units whose
    initiatives ``user`` may see (``Initiative.objects.visible_to`` filters on the unit),
    narrowed to ``unit_ids`` (ids or a subquery): TRUE for a global role looking at
    everything."""
    from django.core.exceptions import EmptyResultSet

    visible = Initiative.objects.visible_unit_ids(user)
    if visible is None and unit_ids is None:
        return "TRUE", ()
    units = BusinessUnit.objects.order_by()
    if visible is not None:
        units = units.filter(pk__in=visible)
    if unit_ids is not None:
        units = units.filter(pk__in=unit_ids)
    try:
        sql, params = units.values("pk").query.sql_with_params()
    except EmptyResultSet:
        return "FALSE", ()
    # An array (one InitPlan), not a join: the rollups are read by their own indexes.
    return f"r.business_unit_id = ANY(ARRAY({sql}))", params


@lru_cache(maxsize=4096)
def _observable(quarter: dt.date, today: dt.date) -> tuple[bool, bool, bool]:
    q_end = _months_later(quarter, 3)
    return tuple(_months_later(q_end, m) <= today for m in (6, 12, 18))


def cohorts(user, *, unit_ids=None, today: dt.date | None = None) -> list[Cohort]:
    """Cohorts by start quarter, for every unit together (``unit_id`` None) and per unit
    (grouping sets, one query). Start: ``started_on``, else the first stage date.
    Reaching initial production: the first decision into a production stage (or, with no
    recorded decision, the date it entered its current production stage). Read from the
    maintained rollup (``FlowCohort``: one row per unit and start quarter, its counts
    computed by ``portfolio.flow_rollup``'s definition)."""
    today = today or timezone.localdate()
    scope, params = _unit_scope(user, unit_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT r.quarter, u.id, u.name, SUM(r.started)::int, SUM(r.reached_6)::int,
                   SUM(r.reached_12)::int, SUM(r.reached_18)::int, SUM(r.killed)::int,
                   SUM(r.in_pilot)::int
            FROM portfolio_flowcohort r JOIN people_businessunit u ON u.id = r.business_unit_id
            WHERE {scope}
            GROUP BY GROUPING SETS ((r.quarter), (r.quarter, u.id, u.name))
            ORDER BY r.quarter, (u.id IS NOT NULL), u.name""",
            params,
        )
        rows = cursor.fetchall()
    return [
        Cohort(q, unit_id, unit_name or "All units", *counts, *_observable(q, today))
        for q, unit_id, unit_name, *counts in rows
    ]


# --- Time in stage ---------------------------------------------------------------------------


def _percentile(p: float, n: int, values: list) -> float | None:
    """``percentile_cont(p)`` of ``n`` values, from the value at rank floor(p * (n - 1))
    and the next (``values``, ascending): the same double arithmetic as PostgreSQL's
    (orderedsetaggs.c), so the same figure as the aggregate over every value."""
    if not n:
        return None
    pos = p * (n - 1)
    first, second = math.floor(pos), math.ceil(pos)
    if first == second:
        return values[0]
    return values[0] + ((pos - first) * (values[1] - values[0]))


def stay_percentiles(user, *, unit_ids=None) -> dict[str, dict]:
    """Per active stage: completed stays, their median and 90th percentile in days, and
    the stays still open with their median age (unrounded). Stays come from the stage
    history (each decision that changed the stage starts one; imports are not decisions)
    and are kept in ``FlowStay`` (``portfolio.flow_rollup``'s definition). One query:
    per stage, the counts, then only the stays at the percentiles' ranks (an index in
    days, or in entry order for the open stays, whose age is now minus entry), not a
    sort of every stay."""
    scope, params = _unit_scope(user, unit_ids)
    done = f"r.stage = c.stage AND r.left_at IS NOT NULL AND {scope}"
    open_ = f"r.stage = c.stage AND r.left_at IS NULL AND {scope}"

    def rank(p: str, count: str) -> str:
        return f"GREATEST(floor({p}::float8 * ({count} - 1)), 0)::bigint"

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH c AS MATERIALIZED (
                SELECT s.stage,
                       (SELECT COUNT(*) FROM portfolio_flowstay r
                        WHERE {done.replace("c.stage", "s.stage")}) AS completed,
                       (SELECT COUNT(*) FROM portfolio_flowstay r
                        WHERE {open_.replace("c.stage", "s.stage")}) AS ongoing
                FROM unnest(%s::varchar[]) s(stage)
            )
            SELECT c.stage, c.completed, c.ongoing,
                   ARRAY(SELECT r.days FROM portfolio_flowstay r WHERE {done}
                         ORDER BY r.days OFFSET {rank("0.5", "c.completed")} LIMIT 2),
                   ARRAY(SELECT r.days FROM portfolio_flowstay r WHERE {done}
                         ORDER BY r.days OFFSET {rank("0.9", "c.completed")} LIMIT 2),
                   ARRAY(SELECT (EXTRACT(EPOCH FROM (now() - r.entered)) / 86400.0)::float8
                         FROM portfolio_flowstay r WHERE {open_}
                         ORDER BY r.entered DESC OFFSET {rank("0.5", "c.ongoing")} LIMIT 2)
            FROM c""",
            [*params, *params, [s.value for s in ACTIVE_STAGES], *params, *params, *params],
        )
        rows = {r[0]: r for r in cursor.fetchall()}
    out = {}
    for s in ACTIVE_STAGES:
        _, completed, ongoing, mid, p90, open_mid = rows[s.value]
        out[s.value] = {
            "completed": completed,
            "median_days": _percentile(0.5, completed, mid),
            "p90_days": _percentile(0.9, completed, p90),
            "ongoing": ongoing,
            "ongoing_median_days": _percentile(0.5, ongoing, open_mid),
        }
    return out


def time_in_stage(user, *, unit_ids=None) -> list[dict]:
    """Per active stage: completed stays, their median and 90th percentile in days, and
    the stays still open with their median age (days to one decimal). One query
    (``stay_percentiles``)."""
    figures = stay_percentiles(user, unit_ids=unit_ids)
    return [
        {
            "stage": s.value,
            "label": s.label,
            "completed": figures[s.value]["completed"],
            "median_days": _round(figures[s.value]["median_days"]),
            "p90_days": _round(figures[s.value]["p90_days"]),
            "ongoing": figures[s.value]["ongoing"],
            "ongoing_median_days": _round(figures[s.value]["ongoing_median_days"]),
        }
        for s in ACTIVE_STAGES
    ]


def _round(value):
    return None if value is None else round(float(value), 1)


# --- Funnel ----------------------------------------------------------------------------------


def funnel(user, *, unit_ids=None) -> list[dict]:
    """How many initiatives ever reached each active stage (from the current stage and the
    stage history), and the conversion rate from each stage to the next. One query, on
    the maintained rollup (``FlowCohort``)."""
    scope, params = _unit_scope(user, unit_ids)
    n = len(ACTIVE_STAGES)
    sums = ", ".join(
        f"COALESCE(SUM(r.{c}), 0)::int AS r{k}"
        for k, c in enumerate(["started", *flow_rollup.EVER_COLUMNS])
    )
    rows = _fetch(f"SELECT {sums} FROM portfolio_flowcohort r WHERE {scope}", params)
    counts = [rows[0][f"r{k}"] for k in range(n)] if rows else [0] * n
    out = []
    for k, s in enumerate(ACTIVE_STAGES):
        nxt = counts[k + 1] if k + 1 < n else None
        rate = (
            (Decimal(nxt) / counts[k]).quantize(Decimal("0.0001"))
            if nxt is not None and counts[k]
            else None
        )
        out.append({"stage": s.value, "label": s.label, "reached": counts[k], "conversion": rate})
    return out


# --- Graveyard -------------------------------------------------------------------------------


def _sunk_in_reporting():
    """The sunk cost in the reporting currency at the rate of the decision's day (None
    when the currency has no rate: never counted at rate 1)."""
    rate = crossapp.exchange_rate_on(
        currency=OuterRef("sunk_cost_currency"), day=OuterRef("decided_at")
    )
    return Case(
        When(sunk_cost_currency=settings.REPORTING_CURRENCY, then=F("sunk_cost")),
        default=ExpressionWrapper(
            F("sunk_cost") * Subquery(rate), output_field=DecimalField(max_digits=20)
        ),
        output_field=DecimalField(max_digits=20, decimal_places=2),
    )


def graveyard(user, *, q: str = "", unit_ids=None, year: int | None = None) -> QuerySet:
    """Kills and retirements the user may see, newest first, with ``sunk_reporting``;
    ``q`` searches reasons, lessons, salvaged assets and the initiative's name and code
    (PostgreSQL full-text search, web-search syntax)."""
    qs = (
        StageTransition.objects.visible_to(user)
        .filter(decision__in=END_DECISIONS)
        .select_related("initiative", "business_unit")
        .annotate(sunk_reporting=_sunk_in_reporting())
        .order_by("-decided_at", "-pk")
    )
    if unit_ids is not None:
        qs = qs.filter(business_unit_id__in=unit_ids)
    if year:
        qs = qs.filter(decided_at__year=year)
    q = (q or "").strip()
    if q:
        qs = qs.annotate(
            document=SearchVector(
                "rationale", "lessons", "salvaged", "initiative__name", "initiative__code"
            )
        ).filter(document=SearchQuery(q, search_type="websearch"))
    return qs


def with_reuses(transitions, user) -> list:
    """Attach ``reuses``: the visible initiatives that reused each row's salvage. One query."""
    rows = list(transitions)
    through = StageTransition.reused_by.through
    visible = Initiative.objects.visible_to(user)
    links: dict[int, list] = {}
    for link in (
        through.objects.filter(stagetransition_id__in=[t.pk for t in rows])
        .filter(initiative__in=visible)
        .select_related("initiative")
        .order_by("initiative__code")
    ):
        links.setdefault(link.stagetransition_id, []).append(link.initiative)
    for t in rows:
        t.reuses = links.get(t.pk, [])
    return rows


def graveyard_totals(user, *, q: str = "", unit_ids=None, year: int | None = None) -> list[dict]:
    """Kills and retirements with their sunk cost (reporting currency) by unit and year;
    ``unconverted`` counts sunk costs in a currency with no rate. One query."""
    return list(
        graveyard(user, q=q, unit_ids=unit_ids, year=year)
        .annotate(year=ExtractYear("decided_at"))
        .values("business_unit_id", "business_unit__name", "year")
        .annotate(
            kills=Count("pk", filter=Q(decision=StageTransition.Decision.KILL)),
            retirements=Count("pk", filter=Q(decision=StageTransition.Decision.RETIRE)),
            sunk=Sum("sunk_reporting"),
            unconverted=Count("pk", filter=Q(sunk_cost__isnull=False, sunk_reporting__isnull=True)),
        )
        .order_by("-year", "business_unit__name")
    )
