"""Money reads: budget versus actual, run rate, forecast, value and ROI, variance flags.

Everything is computed by PostgreSQL in one statement per call (no Python loop over
rows), scoped through ``visible_to(user)``, and converted to the reporting currency
(``settings.REPORTING_CURRENCY``) with the dated ``ExchangeRate`` table:

- a spend posting uses the latest rate with ``valid_from <= posted_on``;
- a budget line uses the latest rate in force on the first day of its fiscal year;
- a KPI's value uses the latest rate in force on the measurement date;
- the reporting currency itself has rate 1.

A row whose currency has no rate is **not** counted as if the rate were 1: it is left
out of the converted totals and its currency is listed in ``missing_rates``, so pages
can say "these totals exclude amounts in X, which has no exchange rate".

Definitions (fiscal year = calendar year, as ``finance.models.current_fiscal_year``):

- ``variance`` = budget - actual (positive: under budget).
- ``run_rate_monthly`` = spend in the three complete calendar months before the month
  of ``as_of``, divided by three; ``run_rate`` = ``run_rate_monthly`` x 12 (annualised).
- ``forecast`` (year end) = actual in the fiscal year up to ``as_of`` + ``run_rate_monthly``
  x the months of the fiscal year after ``as_of``'s month (0 for past years, 12 for future
  years); ``forecast_variance`` = budget - forecast (the remaining budget at year end).
- ``operational_share`` = operational actual / all actual (None when there is no actual).
- Realised value: a *business* KPI with ``value_per_unit`` and a baseline is worth, for
  every elapsed period of its cadence (week, month or quarter) from its first
  measurement up to and including the period of ``as_of``, its level above the baseline
  ((value - baseline) for "higher is better", (baseline - value) for "lower is better")
  times ``value_per_unit``, where the level is the latest measurement at or before that
  period (carried forward to periods with no measurement) and is converted at the rate
  of that measurement's day. Value follows time, not the number of rows: recording the
  same level on ten days of a month counts once. A worse-than-baseline level counts
  negative. No such measurement -> value ``None`` ("not measured"), never zero. Read
  from the maintained rollup ``portfolio.KPIPeriodValue``; cost from the maintained
  ``SpendInitiativeMonth``.
- ROI = (realised value - total cost) / total cost; payback month = the first month in
  which cumulative realised value reaches cumulative cost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from finance import value_rollup
from finance.models import Budget, CostKind, SpendEntry
from finance.variance import SPENDING
from people.models import BusinessUnit
from portfolio.models import Initiative, Measurement

GROUPS = ("unit", "initiative", "kind", "category", "month", "fiscal_year")

_RATE_SQL = """LEFT JOIN LATERAL (
    SELECT r.rate FROM finance_exchangerate r
    WHERE r.currency = {alias}.{currency} AND r.valid_from <= {on}
    ORDER BY r.valid_from DESC LIMIT 1
) {rate_alias} ON TRUE"""


def _rate_join(alias: str, currency: str, on: str, rate_alias: str) -> str:
    return _RATE_SQL.format(alias=alias, currency=currency, on=on, rate_alias=rate_alias)


def _rate_expr(alias: str, currency: str, rate_alias: str) -> str:
    """The conversion factor: 1 for the reporting currency, else the dated rate (or NULL)."""
    return f"(CASE WHEN {alias}.{currency} = %(rep)s THEN 1 ELSE {rate_alias}.rate END)"


def _ids_sql(queryset) -> tuple[str, tuple]:
    """The SQL of ``queryset.values('id')``, to use as ``id IN (...)`` in a raw statement."""
    try:
        sql, params = queryset.values("id").query.sql_with_params()
    except EmptyResultSet:  # e.g. ``business_unit_id__in=[]`` for a user with no units
        return "SELECT NULL::bigint WHERE FALSE", ()
    return sql, params


class _Params:
    """Collects positional parameters while composing named placeholders into ``%s``."""

    def __init__(self, **named: Any) -> None:
        self.named = named
        self.values: list[Any] = []
        self.parts: list[str] = []

    def add(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Append ``sql``: ``%(name)s`` placeholders resolve from ``named``, ``%s`` from
        ``params`` in order."""
        it = iter(params)
        out = []
        i = 0
        while i < len(sql):
            if sql.startswith("%%", i):
                out.append("%%")
                i += 2
            elif sql.startswith("%(", i):
                end = sql.index(")s", i)
                self.values.append(self.named[sql[i + 2 : end]])
                out.append("%s")
                i = end + 2
            elif sql.startswith("%s", i):
                self.values.append(next(it))
                out.append("%s")
                i += 2
            else:
                out.append(sql[i])
                i += 1
        self.parts.append("".join(out))

    @property
    def sql(self) -> str:
        return "\n".join(self.parts)


def _fetch(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _bucket_cte(p: _Params, unit: BusinessUnit | None, user) -> None:
    """``buckets(unit_id, bucket_id)``: every unit under ``unit`` mapped to the child of
    ``unit`` it rolls up to (``unit``'s own rows stay on ``unit``). Without ``unit``, the
    roots are the user's topmost visible units (top-level units for global roles; the
    lead's own unit for a unit lead), so nothing rolls up into a unit the user cannot see."""
    if unit is None:
        visible, params = _ids_sql(_scoped(BusinessUnit.objects.all(), user))
        p.add(
            f"""tree(unit_id, bucket_id) AS (
                SELECT id, id FROM people_businessunit
                WHERE id IN ({visible}) AND (parent_id IS NULL OR parent_id NOT IN ({visible}))
                UNION ALL
                SELECT c.id, t.bucket_id FROM people_businessunit c
                JOIN tree t ON c.parent_id = t.unit_id
            ), buckets AS (SELECT unit_id, bucket_id FROM tree),""",
            [*params, *params],
        )
    else:
        p.add(
            """tree(unit_id, bucket_id) AS (
                SELECT id, id FROM people_businessunit WHERE parent_id = %s
                UNION ALL
                SELECT c.id, t.bucket_id FROM people_businessunit c
                JOIN tree t ON c.parent_id = t.unit_id
            ), buckets AS (SELECT unit_id, bucket_id FROM tree UNION ALL SELECT %s, %s),""",
            [unit.pk, unit.pk, unit.pk],
        )


#: Pass as ``user`` to read every unit: for background jobs (variance alerts) only,
#: never for anything a request renders.
ALL_UNITS = object()


def _unit_scope(model, user) -> list[int] | None:
    """The unit ids ``model.objects.visible_to(user)`` filters on, or None for every unit
    (a global role, or ``ALL_UNITS``): for filtering the ledger and rollups directly."""
    if user is ALL_UNITS:
        return None
    ids = model.objects.visible_unit_ids(user)
    return None if ids is None else sorted(ids)


def _scoped(queryset, user):
    if user is ALL_UNITS:
        return queryset.all()
    return queryset.visible_to(user)


def _as_of(as_of: dt.date | None) -> dt.date:
    return as_of or timezone.localdate()


def _trailing_window(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The three complete calendar months before ``as_of``'s month: [start, end)."""
    end = as_of.replace(day=1)
    month = end.month - 3
    year = end.year
    if month < 1:
        month += 12
        year -= 1
    return dt.date(year, month, 1), end


# --- Budget versus actual ---------------------------------------------------------------


@dataclass(frozen=True)
class BudgetActualRow:
    """One slice of budget versus actual, in the reporting currency."""

    unit_id: int | None = None
    unit_name: str | None = None
    initiative_id: int | None = None
    initiative_code: str | None = None
    initiative_name: str | None = None
    initiative_unit_id: int | None = None
    kind: str | None = None
    category: str | None = None
    month: dt.date | None = None
    fiscal_year: int | None = None
    budget: Decimal = Decimal("0")
    actual: Decimal = Decimal("0")
    actual_one_time: Decimal = Decimal("0")
    actual_operational: Decimal = Decimal("0")
    variance: Decimal = Decimal("0")
    variance_pct: Decimal | None = None
    run_rate_monthly: Decimal = Decimal("0")
    run_rate: Decimal = Decimal("0")
    forecast: Decimal = Decimal("0")
    forecast_variance: Decimal = Decimal("0")
    operational_share: Decimal | None = None
    missing_rates: list[str] = field(default_factory=list)
    currency: str = ""


def budget_vs_actual(
    *,
    user,
    group_by: Sequence[str] = ("initiative",),
    fiscal_year: int | None = None,
    unit: BusinessUnit | None = None,
    initiative: Initiative | None = None,
    kind: str | None = None,
    category: str | None = None,
    as_of: dt.date | None = None,
) -> list[BudgetActualRow]:
    """Approved budgets versus spend, grouped by any of ``GROUPS``, in one query.

    - ``group_by`` "unit" rolls each unit's figures up to the children of ``unit`` (or to
      the top-level units when ``unit`` is None); ``unit``'s own rows stay on ``unit``.
      Passing ``unit`` also restricts every figure to that unit and its descendants.
    - ``fiscal_year`` restricts budgets and spend to one year; it defaults to the year of
      ``as_of`` unless "fiscal_year" is one of the groups (then every year is shown).
    - "month": spend by posting month; an annual budget line counts 1/12 in each month of
      its fiscal year.
    - Only approved budgets count (requested, rejected and superseded lines do not).

    Rows are ordered by the group columns; the query count is constant (two small
    scoping lookups at most, then one statement).
    """
    unknown = set(group_by) - set(GROUPS)
    if unknown:
        raise ValueError(f"Unknown group(s): {', '.join(sorted(unknown))}")
    as_of = _as_of(as_of)
    if fiscal_year is None and "fiscal_year" not in group_by:
        fiscal_year = as_of.year
    trailing_start, trailing_end = _trailing_window(as_of)

    as_of_month = as_of.replace(day=1)
    next_month = (as_of_month + dt.timedelta(days=32)).replace(day=1)
    by_month = "month" in group_by
    use_buckets = "unit" in group_by or unit is not None
    p = _Params(
        rep=settings.REPORTING_CURRENCY,
        fy=fiscal_year,
        fy_start=dt.date(fiscal_year, 1, 1) if fiscal_year else None,
        fy_end=dt.date(fiscal_year, 12, 31) if fiscal_year else None,
        as_of=as_of,
        as_of_month=as_of_month,
        next_month=next_month,
        t_start=trailing_start,
        t_end=trailing_end,
        one_time=CostKind.ONE_TIME.value,
        operational=CostKind.OPERATIONAL.value,
        spend_units=_unit_scope(SpendEntry, user),
        budget_units=_unit_scope(Budget, user),
        initiative=initiative.pk if initiative is not None else None,
        kind=kind,
        category=category,
    )
    p.add("WITH RECURSIVE")
    if use_buckets:
        _bucket_cte(p, unit, user)

    def spend_where(alias: str, column: str, *, ledger: bool) -> str:
        """The filters on spend, applied to the ledger or a rollup directly (no id lists):
        scope, dates (a rollup's months; the ledger's days), initiative, kind, category."""
        conds = ["TRUE"]
        if p.named["spend_units"] is not None:
            conds.append(f"{alias}.business_unit_id = ANY(%(spend_units)s)")
        if ledger:
            conds.append(f"{alias}.{column} <= %(as_of)s")
        else:
            conds.append(f"{alias}.{column} <= %(as_of_month)s")
        if fiscal_year is not None:
            conds.append(
                f"(({alias}.{column} >= %(fy_start)s AND {alias}.{column} <= %(fy_end)s)"
                f" OR ({alias}.{column} >= %(t_start)s AND {alias}.{column} < %(t_end)s))"
            )
        for name in ("initiative", "kind", "category"):
            if p.named[name] is not None:
                col = "initiative_id" if name == "initiative" else name
                conds.append(f"{alias}.{col} = %({name})s")
        return " AND ".join(conds)

    # In-year spend counts as actual; the trailing window feeds the run rate (it may
    # reach into the previous year, which is why spend is filtered on both).
    def in_year(month: str) -> str:
        return "TRUE" if fiscal_year is None else f"EXTRACT(YEAR FROM {month})::int = %(fy)s"

    def trailing(month: str) -> str:
        return f"({month} >= %(t_start)s AND {month} < %(t_end)s)"

    def ledger_lines(sign: str, where: str) -> str:
        rate = _rate_expr("s", "currency", "er")
        month = "date_trunc('month', s.posted_on)::date"
        missing = (
            f"CASE WHEN {rate} IS NULL AND ({in_year('s.posted_on')} OR"
            f" {trailing('s.posted_on')}) THEN s.currency END"
            if not sign
            else "NULL::varchar"
        )
        return f"""SELECT s.business_unit_id, s.initiative_id, s.kind, s.category,
               {month} AS month, EXTRACT(YEAR FROM s.posted_on)::int AS fiscal_year,
               0::numeric AS budget,
               CASE WHEN {in_year("s.posted_on")} THEN {sign} s.amount * {rate} ELSE 0 END AS actual,
               CASE WHEN {in_year("s.posted_on")} AND s.kind = %(one_time)s
                    THEN {sign} s.amount * {rate} ELSE 0 END AS actual_one_time,
               CASE WHEN {in_year("s.posted_on")} AND s.kind = %(operational)s
                    THEN {sign} s.amount * {rate} ELSE 0 END AS actual_operational,
               CASE WHEN {trailing("s.posted_on")} THEN {sign} s.amount * {rate} ELSE 0 END
                   AS trailing,
               {missing} AS missing_currency
        FROM finance_spendentry s
        {_rate_join("s", "currency", "s.posted_on", "er")}
        WHERE {where}"""

    # Where the spend comes from: the unit rollup (no initiative), the initiative rollup
    # (no kind or category), else the ledger itself (e.g. one initiative's lines by kind
    # and category). A rollup holds whole months: postings after ``as_of`` in its month
    # (normally none) are taken back out of the ledger, through its date index.
    needs_initiative = "initiative" in group_by or initiative is not None
    needs_detail = bool({"kind", "category"} & set(group_by)) or kind or category
    if not needs_initiative:
        source = "unit"
    elif not needs_detail:
        source = "initiative"
    else:
        source = "ledger"
    if source == "unit":
        p.add(
            f"""lines AS (
            SELECT r.business_unit_id, NULL::bigint AS initiative_id, r.kind, r.category,
                   r.month, EXTRACT(YEAR FROM r.month)::int AS fiscal_year,
                   0::numeric AS budget,
                   CASE WHEN {in_year("r.month")} THEN r.converted ELSE 0 END AS actual,
                   CASE WHEN {in_year("r.month")} AND r.kind = %(one_time)s
                        THEN r.converted ELSE 0 END AS actual_one_time,
                   CASE WHEN {in_year("r.month")} AND r.kind = %(operational)s
                        THEN r.converted ELSE 0 END AS actual_operational,
                   CASE WHEN {trailing("r.month")} THEN r.converted ELSE 0 END AS trailing,
                   CASE WHEN r.missing_entries > 0 AND ({in_year("r.month")} OR {trailing("r.month")})
                        THEN r.currency END AS missing_currency
            FROM finance_spendunitmonth r
            WHERE {spend_where("r", "month", ledger=False)}"""
        )
    elif source == "initiative":
        p.add(
            f"""lines AS (
            SELECT r.business_unit_id, r.initiative_id, NULL::varchar AS kind,
                   NULL::varchar AS category,
                   r.month, EXTRACT(YEAR FROM r.month)::int AS fiscal_year,
                   0::numeric AS budget,
                   CASE WHEN {in_year("r.month")} THEN r.one_time + r.operational ELSE 0 END
                       AS actual,
                   CASE WHEN {in_year("r.month")} THEN r.one_time ELSE 0 END AS actual_one_time,
                   CASE WHEN {in_year("r.month")} THEN r.operational ELSE 0 END
                       AS actual_operational,
                   CASE WHEN {trailing("r.month")} THEN r.one_time + r.operational ELSE 0 END
                       AS trailing,
                   NULL::varchar AS missing_currency
            FROM finance_spendinitiativemonth r
            WHERE {spend_where("r", "month", ledger=False)}
            UNION ALL
            -- Which currencies lack a rate: asked of the ledger only for the months the
            -- rollup says have such postings (normally none).
            SELECT r.business_unit_id, r.initiative_id, NULL, NULL, r.month,
                   EXTRACT(YEAR FROM r.month)::int, 0, 0, 0, 0, 0, mc.currency
            FROM finance_spendinitiativemonth r
            CROSS JOIN LATERAL (
                SELECT DISTINCT s.currency FROM finance_spendentry s
                WHERE s.initiative_id = r.initiative_id
                  AND s.business_unit_id = r.business_unit_id
                  AND s.posted_on >= r.month AND s.posted_on < r.month + interval '1 month'
                  AND s.posted_on <= %(as_of)s
                  AND finance_rate_on(s.currency, s.posted_on) IS NULL
            ) mc
            WHERE r.missing_entries > 0 AND ({in_year("r.month")} OR {trailing("r.month")})
              AND {spend_where("r", "month", ledger=False)}"""
        )
    else:
        p.add(f"lines AS ({ledger_lines('', spend_where('s', 'posted_on', ledger=True))}")
    if source != "ledger":
        correction = (
            spend_where("s", "posted_on", ledger=True).replace(
                "s.posted_on <= %(as_of)s", "s.posted_on > %(as_of)s"
            )
            + " AND s.posted_on < %(next_month)s"
        )
        p.add(f"UNION ALL {ledger_lines('-', correction)}")
    month_expr = "make_date(b.fiscal_year, m.m, 1)" if by_month else "NULL::date"
    months = "CROSS JOIN generate_series(1, 12) AS m(m)" if by_month else ""
    share = "/ 12" if by_month else ""
    budget_rate = _rate_expr("b", "currency", "er")
    budget_conds = ["b.status = 'approved'"]
    if p.named["budget_units"] is not None:
        budget_conds.append("b.business_unit_id = ANY(%(budget_units)s)")
    if fiscal_year is not None:
        budget_conds.append("b.fiscal_year = %(fy)s")
    for name in ("initiative", "kind", "category"):
        if p.named[name] is not None:
            col = "initiative_id" if name == "initiative" else name
            budget_conds.append(f"b.{col} = %({name})s")
    # By month, each annual line is spread over twelve months: the lines are first summed
    # over the columns the grouping does not need (20,000 lines spread twelve times would
    # be 240,000 rows; their sums per unit, kind, category and currency are a few thousand).
    budgets = "finance_budget b"
    if source == "unit":
        # Without initiatives, from the maintained budget rollup (finance.budget_rollup):
        # approved lines summed per unit, year, kind, category and currency.
        budgets = """(SELECT business_unit_id, NULL::bigint AS initiative_id, kind, category,
                fiscal_year, currency, amount, 'approved' AS status
            FROM finance_budgetunityear) b"""
    if by_month:
        keep = {
            "business_unit_id": use_buckets,
            "initiative_id": "initiative" in group_by,
            "kind": "kind" in group_by,
            "category": "category" in group_by,
        }
        cols = ", ".join(
            f"b.{c}" if needed else f"NULL::{'bigint' if c.endswith('_id') else 'varchar'} AS {c}"
            for c, needed in keep.items()
        )
        budgets = f"""(SELECT {cols}, b.fiscal_year, b.currency, SUM(b.amount) AS amount
            FROM {budgets} WHERE {" AND ".join(budget_conds)}
            GROUP BY {", ".join(f"b.{c}" for c, needed in keep.items() if needed)}
                {"," if any(keep.values()) else ""} b.fiscal_year, b.currency) b"""
        budget_conds = ["TRUE"]
    p.add(
        f"""UNION ALL
        SELECT b.business_unit_id, b.initiative_id, b.kind, b.category,
               {month_expr}, b.fiscal_year, b.amount {share} * {budget_rate}, 0, 0, 0, 0,
               CASE WHEN {budget_rate} IS NULL THEN b.currency END
        FROM {budgets} {months}
        {_rate_join("b", "currency", "make_date(b.fiscal_year, 1, 1)", "er")}
        WHERE {" AND ".join(budget_conds)}
    )"""
    )
    dims = {
        "unit": "bk.bucket_id",
        "initiative": "l.initiative_id",
        "kind": "l.kind",
        "category": "l.category",
        "month": "l.month",
        "fiscal_year": "l.fiscal_year",
    }
    select_dims = [f"{dims[g]} AS {g}" for g in group_by]
    # Months of the row's fiscal year after as_of's month: 0 for past years, 12 ahead.
    remaining = (
        "GREATEST(0, LEAST(12, (MAX(l.fiscal_year) - EXTRACT(YEAR FROM %(as_of)s::date)) * 12"
        " + 12 - EXTRACT(MONTH FROM %(as_of)s::date)))"
    )
    if "fiscal_year" not in group_by and fiscal_year is not None:
        remaining = (
            "GREATEST(0, LEAST(12, (%(fy)s - EXTRACT(YEAR FROM %(as_of)s::date)) * 12"
            " + 12 - EXTRACT(MONTH FROM %(as_of)s::date)))"
        )
    join = "JOIN buckets bk ON bk.unit_id = l.business_unit_id" if use_buckets else ""
    group_clause = f"GROUP BY {', '.join(dims[g] for g in group_by)}" if group_by else ""
    p.add(
        f""", agg AS (
        SELECT {", ".join([*select_dims, ""])}
               ROUND(COALESCE(SUM(l.budget), 0), 2) AS budget,
               ROUND(COALESCE(SUM(l.actual), 0), 2) AS actual,
               ROUND(COALESCE(SUM(l.actual_one_time), 0), 2) AS actual_one_time,
               ROUND(COALESCE(SUM(l.actual_operational), 0), 2) AS actual_operational,
               COALESCE(SUM(l.trailing), 0) / 3 AS run_rate_monthly,
               {remaining}::numeric AS remaining_months,
               COALESCE(ARRAY_AGG(DISTINCT l.missing_currency)
                   FILTER (WHERE l.missing_currency IS NOT NULL), ARRAY[]::varchar[])
                   AS missing_rates
        FROM lines l {join}
        {group_clause}
    )
    SELECT agg.*,
           {"bu.name" if "unit" in group_by else "NULL"} AS unit_name,
           {"i.code" if "initiative" in group_by else "NULL"} AS initiative_code,
           {"i.name" if "initiative" in group_by else "NULL"} AS initiative_name,
           {"i.business_unit_id" if "initiative" in group_by else "NULL"} AS initiative_unit_id
    FROM agg
    {"LEFT JOIN people_businessunit bu ON bu.id = agg.unit" if "unit" in group_by else ""}
    {"LEFT JOIN portfolio_initiative i ON i.id = agg.initiative" if "initiative" in group_by else ""}
    ORDER BY {", ".join([*(["bu.name"] if "unit" in group_by else []), *(["i.code"] if "initiative" in group_by else []), *[g for g in group_by if g not in ("unit", "initiative")]]) or "1"}"""
    )
    rows = _fetch(p.sql, p.values)
    result = []
    for r in rows:
        budget, actual = r["budget"], r["actual"]
        monthly = r["run_rate_monthly"]
        forecast = actual + monthly * r["remaining_months"]
        result.append(
            BudgetActualRow(
                unit_id=r.get("unit"),
                unit_name=r["unit_name"],
                initiative_id=r.get("initiative"),
                initiative_code=r["initiative_code"],
                initiative_name=r["initiative_name"],
                initiative_unit_id=r["initiative_unit_id"],
                kind=r.get("kind"),
                category=r.get("category"),
                month=r.get("month"),
                fiscal_year=r.get("fiscal_year", fiscal_year),
                budget=budget,
                actual=actual,
                actual_one_time=r["actual_one_time"],
                actual_operational=r["actual_operational"],
                variance=budget - actual,
                variance_pct=_q(100 * (actual - budget) / budget) if budget else None,
                run_rate_monthly=_q(monthly),
                run_rate=_q(monthly * 12),
                forecast=_q(forecast),
                forecast_variance=_q(budget - forecast),
                operational_share=_q(r["actual_operational"] / actual, 4) if actual else None,
                missing_rates=sorted(r["missing_rates"]),
                currency=settings.REPORTING_CURRENCY,
            )
        )
    return result


def _q(value: Decimal, places: int = 2) -> Decimal:
    return Decimal(value).quantize(Decimal(1).scaleb(-places))


def budget_totals(**kwargs: Any) -> BudgetActualRow:
    """The grand total of ``budget_vs_actual`` with the same filters (one row)."""
    rows = budget_vs_actual(group_by=(), **kwargs)
    return rows[0] if rows else BudgetActualRow(currency=settings.REPORTING_CURRENCY)


@dataclass(frozen=True)
class MonthShare:
    month: dt.date
    one_time: Decimal
    operational: Decimal
    total: Decimal
    operational_share: Decimal | None
    missing_rates: list[str]


def operational_share_by_month(
    *,
    user,
    fiscal_year: int | None = None,
    unit: BusinessUnit | None = None,
    initiative: Initiative | None = None,
    as_of: dt.date | None = None,
) -> list[MonthShare]:
    """One-time versus operational spend for each month with spend (reporting currency)."""
    rows = budget_vs_actual(
        user=user,
        group_by=("month",),
        fiscal_year=fiscal_year,
        unit=unit,
        initiative=initiative,
        as_of=as_of,
    )
    return [
        MonthShare(
            month=r.month,
            one_time=r.actual_one_time,
            operational=r.actual_operational,
            total=r.actual,
            operational_share=r.operational_share,
            missing_rates=r.missing_rates,
        )
        for r in rows
        if r.actual or r.missing_rates
    ]


def spend_totals_by_currency(
    *, spend=None, user=None, units=None, month=None, kind=None, category=None, currency=None
) -> list[dict[str, Any]]:
    """Per-currency totals of the ledger, each with its reporting-currency equivalent (None
    when the currency has no rate for some posting) and the count of postings. One query.

    Either ``spend``, an already scoped and filtered ``SpendEntry`` queryset (filtered in
    place: its own WHERE, grouped by currency and day before the rates are looked up),
    or ``user`` with filters the monthly rollup can answer without reading the ledger:
    ``units`` (ids), ``month`` (its first day), ``kind``, ``category``, ``currency``."""
    p = _Params(rep=settings.REPORTING_CURRENCY)
    if spend is None:
        conds, params = ["TRUE"], []
        scope = _unit_scope(SpendEntry, user)
        for column, value in (
            ("business_unit_id", scope),
            ("business_unit_id", units),
        ):
            if value is not None:
                conds.append(f"r.{column} = ANY(%s)")
                params.append(list(value))
        for column, value in (
            ("month", month),
            ("kind", kind),
            ("category", category),
            ("currency", currency),
        ):
            if value:
                conds.append(f"r.{column} = %s")
                params.append(value)
        p.add(
            f"""SELECT r.currency, SUM(r.entries) AS entries, SUM(r.amount) AS amount,
                   CASE WHEN SUM(r.missing_entries) > 0 THEN NULL
                        ELSE ROUND(SUM(r.converted), 2) END AS reporting_amount
            FROM finance_spendunitmonth r
            WHERE {" AND ".join(conds)}
            GROUP BY r.currency ORDER BY r.currency""",
            params,
        )
        return _fetch(p.sql, p.values)
    try:
        inner, params = (
            spend.order_by()
            .values("currency", "posted_on")
            .annotate(n=Count("id"), total=Sum("amount"))
            .query.sql_with_params()
        )
    except EmptyResultSet:
        return []
    p.add(
        f"""SELECT d.currency, SUM(d.n) AS entries, SUM(d.total) AS amount,
               CASE WHEN COUNT(*) FILTER (WHERE {_rate_expr("d", "currency", "er")} IS NULL) > 0
                    THEN NULL
                    ELSE ROUND(SUM(d.total * {_rate_expr("d", "currency", "er")}), 2) END
                   AS reporting_amount
        FROM ({inner}) d
        {_rate_join("d", "currency", "d.posted_on", "er")}
        GROUP BY d.currency ORDER BY d.currency""",
        params,
    )
    return _fetch(p.sql, p.values)


# --- Variance flags ---------------------------------------------------------------------


@dataclass(frozen=True)
class VarianceFlag:
    initiative_id: int
    initiative_code: str
    initiative_name: str
    business_unit_id: int
    fiscal_year: int
    budget: Decimal
    run_rate: Decimal
    over_pct: Decimal | None  # None when there is no approved budget at all
    currency: str
    missing_rates: list[str]


def _round2(x: str) -> str:
    """SQL for the column ``x`` rounded to two places half to even, as Python's
    ``Decimal.quantize`` does (``ROUND`` rounds half away from zero): a flag's figures are
    the same whether the database or ``_q`` computed them, so the database can filter and
    order on them."""
    return (
        f"CASE WHEN MOD({x} * 100, 1) IN (0.5, -0.5) AND MOD(TRUNC({x} * 100), 2) = 0"
        f" THEN TRUNC({x}, 2) ELSE ROUND({x}, 2) END"
    )


def _variance_flag_params(user, fiscal_year, threshold_pct, as_of) -> _Params:
    as_of = _as_of(as_of)
    fiscal_year = as_of.year if fiscal_year is None else fiscal_year
    t_start, t_end = _trailing_window(as_of)
    return _Params(
        rep=settings.REPORTING_CURRENCY,
        fy=fiscal_year,
        fy_start=dt.date(fiscal_year, 1, 1),
        fy_end=dt.date(fiscal_year, 12, 31),
        as_of=as_of,
        as_of_month=as_of.replace(day=1),
        t_start=t_start,
        t_end=t_end,
        threshold=Decimal(
            settings.FINANCE_VARIANCE_ALERT_PCT if threshold_pct is None else threshold_pct
        ),
        spend_units=_unit_scope(SpendEntry, user),
        budget_units=_unit_scope(Budget, user),
    )


def _variance_flag_scope(p: _Params, alias: str, units: str) -> str:
    return "" if p.named[units] is None else f"AND {alias}.business_unit_id = ANY(%({units})s)"


def _variance_flag_ctes(p: _Params) -> None:
    """``flagged(initiative_id, monthly, budget, run_rate, over_pct, flag_rank)``: the flags of
    ``budget_vs_actual(group_by=("initiative",))`` computed from what they need alone (the
    initiative rollup's three trailing months and the year's approved budget lines), so
    the database filters, counts and orders them and Python builds only the rows it
    returns. ``monthly`` is ``SUM / 3`` exactly as ``budget_vs_actual`` divides it; each
    step is materialised so the rounding is computed once a row, not once a use.

    For a user who sees every unit, in the fiscal year of ``as_of`` (the pages' and the
    variance job's case), the maintained ``VarianceMonth`` holds the same figures for the
    month of ``as_of`` (finance/variance.py): ``flagged`` reads it, not materialised, so
    a page's ORDER BY ... LIMIT walks its index instead of computing every initiative."""
    p.add(
        """WITH budget_rates AS (
            -- A budget line converts at the rate in force on the first day of its year.
            SELECT DISTINCT ON (r.currency) r.currency, r.rate FROM finance_exchangerate r
            WHERE r.valid_from <= %(fy_start)s ORDER BY r.currency, r.valid_from DESC
        )"""
    )
    maintained = (
        p.named["spend_units"] is None
        and p.named["budget_units"] is None
        and p.named["fy"] == p.named["as_of"].year
    )
    if maintained:
        p.add(
            f""", flagged AS NOT MATERIALIZED (
            SELECT v.initiative_id, v.window_spend / 3 AS monthly,
                   ROUND(v.budget, 2) AS budget, NULLIF(v.flag_rank, 'Infinity') AS over_pct,
                   v.flag_rank
            FROM finance_variancemonth v
            WHERE v.month = %(as_of_month)s AND v.{SPENDING} AND v.flag_rank > %(threshold)s
        )"""
        )
        return
    p.add(
        f""", run AS (
            SELECT r.initiative_id, SUM(r.one_time + r.operational) / 3 AS monthly
            FROM finance_spendinitiativemonth r
            WHERE r.month >= %(t_start)s AND r.month < %(t_end)s
              {_variance_flag_scope(p, "r", "spend_units")}
            GROUP BY r.initiative_id
        ), budgets AS (
            SELECT b.initiative_id,
                   SUM(b.amount * CASE WHEN b.currency = %(rep)s THEN 1 ELSE er.rate END)
                       AS amount
            FROM finance_budget b LEFT JOIN budget_rates er ON er.currency = b.currency
            WHERE b.status = 'approved' AND b.fiscal_year = %(fy)s
              {_variance_flag_scope(p, "b", "budget_units")}
            GROUP BY b.initiative_id
        ), figures AS MATERIALIZED (
            SELECT t.initiative_id, t.monthly, ROUND(COALESCE(b.amount, 0), 2) AS budget,
                   {_round2("(t.monthly * 12)")} AS run_rate
            FROM run t LEFT JOIN budgets b ON b.initiative_id = t.initiative_id
        ), over AS MATERIALIZED (
            -- 30 places before dividing: never a different second decimal than Python's.
            SELECT f.*, CASE WHEN f.budget > 0
                THEN ROUND(100 * (f.run_rate - f.budget), 30) / f.budget END AS over_pct
            FROM figures f WHERE f.run_rate > 0
        ), rounded AS (
            SELECT f.initiative_id, f.monthly, f.budget, f.run_rate,
                   {_round2("f.over_pct")} AS over_pct
            FROM over f
        ), flagged AS (
            SELECT r.*, COALESCE(r.over_pct, 'Infinity') AS flag_rank
            FROM rounded r WHERE COALESCE(r.over_pct, 'Infinity') > %(threshold)s
        )"""
    )


def _variance_flag_missing(p: _Params, alias: str | None) -> str:
    """``(initiative_id, currency)`` for each currency without a rate among the year's
    approved budget lines and the spend in the year or the trailing window (asked of the
    ledger only for the months the rollup says have such postings, normally none); for
    the flag ``alias`` only, or for every initiative."""
    one = f"AND {{t}}.initiative_id = {alias}.initiative_id" if alias else ""
    return f"""SELECT r.initiative_id, s.currency
        FROM finance_spendinitiativemonth r
        JOIN finance_spendentry s
          ON s.initiative_id = r.initiative_id AND s.business_unit_id = r.business_unit_id
         AND s.posted_on >= r.month AND s.posted_on < r.month + interval '1 month'
         AND s.posted_on <= %(as_of)s AND finance_rate_on(s.currency, s.posted_on) IS NULL
        WHERE r.missing_entries > 0 AND r.month <= %(as_of_month)s
          AND ((r.month >= %(fy_start)s AND r.month <= %(fy_end)s)
               OR (r.month >= %(t_start)s AND r.month < %(t_end)s))
          {_variance_flag_scope(p, "r", "spend_units")} {one.format(t="r")}
        UNION
        SELECT b.initiative_id, b.currency
        FROM finance_budget b LEFT JOIN budget_rates er ON er.currency = b.currency
        WHERE b.status = 'approved' AND b.fiscal_year = %(fy)s
          AND b.currency <> %(rep)s AND er.rate IS NULL
          {_variance_flag_scope(p, "b", "budget_units")} {one.format(t="b")}"""


def _variance_flag(r: dict[str, Any], fiscal_year: int) -> VarianceFlag:
    # The figures are computed here as ``budget_vs_actual`` and the loop that flagged
    # its rows did; the database computed the same ones to choose the rows.
    budget = r["budget"]
    run_rate = _q(r["monthly"] * 12)
    return VarianceFlag(
        initiative_id=r["initiative_id"],
        initiative_code=r["code"],
        initiative_name=r["name"],
        business_unit_id=r["business_unit_id"],
        fiscal_year=fiscal_year,
        budget=budget,
        run_rate=run_rate,
        over_pct=_q(100 * (run_rate - budget) / budget) if budget > 0 else None,
        currency=settings.REPORTING_CURRENCY,
        missing_rates=sorted(r["missing_rates"] or []),
    )


def variance_flags(
    *,
    user,
    fiscal_year: int | None = None,
    threshold_pct: Decimal | int | None = None,
    as_of: dt.date | None = None,
) -> list[VarianceFlag]:
    """Initiatives whose annualised run rate exceeds their approved budget for the year
    by more than ``threshold_pct`` percent (default ``settings.FINANCE_VARIANCE_ALERT_PCT``).
    An initiative spending with no approved budget is flagged with ``over_pct`` None.
    The figures are those of ``budget_vs_actual(group_by=("initiative",))``; ordered by
    initiative code. Scoped to what ``user`` may see (pass ``ALL_UNITS`` from a background
    job); one query (after the scope lookups). For a page, ``variance_flag_page``."""
    p = _variance_flag_params(user, fiscal_year, threshold_pct, as_of)
    _variance_flag_ctes(p)
    p.add(
        f""", missing AS (
            SELECT m.initiative_id, ARRAY_AGG(DISTINCT m.currency) AS currencies
            FROM ({_variance_flag_missing(p, None)}) m GROUP BY m.initiative_id
        )
        SELECT f.*, i.code, i.name, i.business_unit_id, m.currencies AS missing_rates
        FROM flagged f JOIN portfolio_initiative i ON i.id = f.initiative_id
        LEFT JOIN missing m ON m.initiative_id = f.initiative_id
        ORDER BY i.code"""
    )
    return [_variance_flag(r, p.named["fy"]) for r in _fetch(p.sql, p.values)]


@dataclass(frozen=True)
class VarianceFlagPage:
    flags: list[VarianceFlag]
    count: int  # every flag, on all pages
    number: int  # the page returned (the one asked for, or the nearest valid one)


def variance_flag_page(
    *,
    user,
    page: int | str | None,
    per_page: int,
    fiscal_year: int | None = None,
    threshold_pct: Decimal | int | None = None,
    as_of: dt.date | None = None,
) -> VarianceFlagPage:
    """One page of ``variance_flags``, largest overrun first: spending with no budget,
    then ``over_pct`` descending, then initiative code. The database flags, counts,
    orders and pages; only the page's rows are built (and only they ask which currencies
    lack a rate). ``page`` is read as Django's ``Paginator.get_page`` reads it: junk gives
    page 1, out of range the last page. One query (after the scope lookups)."""
    try:
        number = int(page) if page is not None else 1
    except (TypeError, ValueError):
        number = 1
    p = _variance_flag_params(user, fiscal_year, threshold_pct, as_of)
    p.named.update(page=number, per_page=per_page)
    _variance_flag_ctes(p)
    p.add(
        f""", counted AS (
            SELECT COUNT(*) AS n,
                   GREATEST(1, CEIL(COUNT(*)::numeric / %(per_page)s))::int AS pages
            FROM flagged
        ), chosen AS (
            SELECT n, CASE WHEN %(page)s BETWEEN 1 AND pages THEN %(page)s ELSE pages END
                AS number
            FROM counted
        ), shown AS (
            SELECT x.* FROM chosen c CROSS JOIN LATERAL (
                SELECT f.*, i.code, i.name, i.business_unit_id
                FROM flagged f JOIN portfolio_initiative i ON i.id = f.initiative_id
                ORDER BY f.flag_rank DESC, i.code COLLATE "C"
                LIMIT %(per_page)s OFFSET (c.number - 1) * %(per_page)s
            ) x
        )
        SELECT c.n, c.number, flag.*, m.missing_rates
        FROM chosen c LEFT JOIN shown flag ON TRUE
        LEFT JOIN LATERAL (
            SELECT ARRAY_AGG(DISTINCT m.currency) AS missing_rates
            FROM ({_variance_flag_missing(p, "flag")}) m
        ) m ON TRUE
        ORDER BY flag.flag_rank DESC, flag.code COLLATE "C" """
    )
    rows = _fetch(p.sql, p.values)
    return VarianceFlagPage(
        flags=[_variance_flag(r, p.named["fy"]) for r in rows if r["initiative_id"] is not None],
        count=rows[0]["n"],
        number=rows[0]["number"],
    )


# --- Value and ROI ----------------------------------------------------------------------


@dataclass(frozen=True)
class ValueRow:
    """Cost, realised value and ROI to ``as_of`` for an initiative or a unit."""

    key_id: int
    code: str | None
    name: str
    business_unit_id: int | None
    one_time_cost: Decimal
    operational_cost: Decimal
    total_cost: Decimal
    realised_value: Decimal | None  # None: not measured
    roi: Decimal | None
    payback_month: dt.date | None
    missing_rates: list[str]
    currency: str

    @property
    def measured(self) -> bool:
        return self.realised_value is not None


def _value_rows(
    *,
    user,
    by_unit: bool,
    unit: BusinessUnit | None,
    as_of: dt.date | None,
    initiative_ids: list[int] | None = None,
):
    as_of = _as_of(as_of)
    p = _Params(
        rep=settings.REPORTING_CURRENCY,
        one_time=CostKind.ONE_TIME.value,
        operational=CostKind.OPERATIONAL.value,
        as_of=as_of,
        month=as_of.replace(day=1),
        spend_units=_unit_scope(SpendEntry, user),
        value_units=_unit_scope(Measurement, user),
        initiatives=initiative_ids,
    )
    p.add("WITH RECURSIVE")
    if by_unit or unit is not None:
        _bucket_cte(p, unit, user)
    if by_unit:
        key_src = "bk.bucket_id"
        bucket_join = "JOIN buckets bk ON bk.unit_id = {alias}.business_unit_id"
    else:
        key_src = "{alias}.initiative_id"
        bucket_join = (
            "JOIN buckets bk ON bk.unit_id = {alias}.business_unit_id" if unit is not None else ""
        )
    # Cost from the maintained spend rollups (finance.rollups): by unit and month for the
    # units pages (a few rows per unit, whatever the size of the ledger), by initiative
    # and month otherwise. The month of ``as_of`` comes from the rollup too unless
    # something is posted after ``as_of`` in that month (then that one month is summed
    # from the ledger). Currencies without a rate: the unit rollup has them per row; for
    # initiatives they are looked up in the ledger only for months with such postings.
    in_scope = (
        "(%(spend_units)s::bigint[] IS NULL OR {a}.business_unit_id = ANY(%(spend_units)s))"
        " AND (%(initiatives)s::bigint[] IS NULL OR {a}.initiative_id = ANY(%(initiatives)s))"
    )
    later = """later AS (
        SELECT EXISTS (SELECT 1 FROM finance_spendentry WHERE posted_on > %(as_of)s
                       AND posted_on < (%(month)s::date + interval '1 month')) AS found
    ),"""
    ledger_month = f"""
        SELECT s.initiative_id, s.business_unit_id, %(month)s::date,
               COALESCE(SUM(s.amount * finance_rate_on(s.currency, s.posted_on))
                        FILTER (WHERE s.kind = %(one_time)s), 0),
               COALESCE(SUM(s.amount * finance_rate_on(s.currency, s.posted_on))
                        FILTER (WHERE s.kind = %(operational)s), 0),
               COUNT(*) FILTER (WHERE finance_rate_on(s.currency, s.posted_on) IS NULL)
        FROM finance_spendentry s
        WHERE (SELECT found FROM later) AND {in_scope.format(a="s")}
          AND s.posted_on >= %(month)s AND s.posted_on <= %(as_of)s
        GROUP BY 1, 2"""
    if by_unit:
        assert initiative_ids is None
        unit_scope = (
            "(%(spend_units)s::bigint[] IS NULL OR r.business_unit_id = ANY(%(spend_units)s))"
        )
        rollup_months = (
            "r.month <= %(month)s AND (r.month < %(month)s OR NOT (SELECT found FROM later))"
        )
        p.add(
            f"""{later} spend_months AS (
            SELECT NULL::bigint AS initiative_id, r.business_unit_id, r.month,
                   COALESCE(SUM(r.converted) FILTER (WHERE r.kind = %(one_time)s), 0),
                   COALESCE(SUM(r.converted) FILTER (WHERE r.kind = %(operational)s), 0),
                   SUM(r.missing_entries)
            FROM finance_spendunitmonth r
            WHERE {unit_scope} AND {rollup_months}
            GROUP BY 2, 3
            UNION ALL {ledger_month}
        ), cost AS (
            SELECT bk.bucket_id AS key, r.month, SUM(r.one_time + r.operational) AS cost,
                   SUM(r.one_time) AS one_time, SUM(r.operational) AS operational
            FROM spend_months r(initiative_id, business_unit_id, month, one_time, operational)
            JOIN buckets bk ON bk.unit_id = r.business_unit_id
            GROUP BY 1, 2
        ), cost_missing AS (
            SELECT bk.bucket_id AS key, r.currency
            FROM finance_spendunitmonth r JOIN buckets bk ON bk.unit_id = r.business_unit_id
            WHERE {unit_scope} AND {rollup_months} AND r.missing_entries > 0
            UNION
            SELECT bk.bucket_id, s.currency
            FROM finance_spendentry s JOIN buckets bk ON bk.unit_id = s.business_unit_id
            WHERE (SELECT found FROM later) AND {in_scope.format(a="s")}
              AND s.posted_on >= %(month)s AND s.posted_on <= %(as_of)s
              AND finance_rate_on(s.currency, s.posted_on) IS NULL
        ),"""
        )
    else:
        p.add(
            f"""{later} spend_months AS (
            SELECT r.initiative_id, r.business_unit_id, r.month, r.one_time, r.operational,
                   r.missing_entries
            FROM finance_spendinitiativemonth r
            WHERE {in_scope.format(a="r")} AND r.month <= %(month)s
              AND (r.month < %(month)s OR NOT (SELECT found FROM later))
            UNION ALL {ledger_month}
        ), cost AS (
            SELECT {key_src.format(alias="r")} AS key, r.month,
                   SUM(r.one_time + r.operational) AS cost,
                   SUM(r.one_time) AS one_time, SUM(r.operational) AS operational
            FROM spend_months r
            {bucket_join.format(alias="r")}
            GROUP BY 1, 2
        ), cost_missing AS (
            SELECT {key_src.format(alias="r")} AS key, x.currency
            FROM (SELECT * FROM spend_months WHERE missing_entries > 0) r
            {bucket_join.format(alias="r")}
            CROSS JOIN LATERAL (
                SELECT DISTINCT s.currency FROM finance_spendentry s
                WHERE s.initiative_id = r.initiative_id
                  AND s.business_unit_id = r.business_unit_id
                  AND s.posted_on >= r.month AND s.posted_on < r.month + interval '1 month'
                  AND s.posted_on <= %(as_of)s AND finance_rate_on(s.currency, s.posted_on) IS NULL
            ) x
        ),"""
        )
    # Honest value: every elapsed cadence period (week, month or quarter), from the KPI's
    # first measurement up to and including the period of ``as_of``, counts once at the
    # level of the latest measurement at or before it (carried forward), converted at the
    # rate of that measurement's day. Value of a period = level above baseline x value
    # per unit. So value follows time and the KPI's cadence, never the number of rows.
    #
    # Read from the maintained value rollup (finance.value_rollup): a segment per KPI
    # period (its money and its next period) and, per unit, the steps of the level. A KPI
    # with a segment measured after ``as_of`` (``late``: usually none) has its stored
    # contribution taken out and the one as of that day put in, from the KPI periods
    # (portfolio.KPIPeriodValue; a period whose latest measurement is after ``as_of``
    # takes its latest at or before ``as_of`` from the measurements).
    #
    # A level holds from its period until the KPI's next measured period: levels are +/-
    # steps summed per key and cadence, and only those sums are expanded into periods
    # (keys x periods, not KPIs x periods), then into the months that hold each period's
    # first day.
    value_scope = (
        "(%(value_units)s::bigint[] IS NULL OR {a}.business_unit_id = ANY(%(value_units)s))"
        " AND (%(initiatives)s::bigint[] IS NULL OR {a}.initiative_id = ANY(%(initiatives)s))"
    )
    upto = "portfolio_kpi_period({a}.cadence, %(as_of)s)"
    late_rate = (
        "(CASE WHEN k.value_currency = %(rep)s THEN 1"
        " ELSE finance_rate_on(k.value_currency, kp.measured_on) END)"
    )
    p.add(
        f"""late AS MATERIALIZED (
        SELECT DISTINCT s.kpi_id FROM finance_valuesegment s
        WHERE s.measured_on > %(as_of)s AND {value_scope.format(a="s")}
    ), kp AS (
        SELECT r.kpi_id, r.period, r.measured_on, r.value
        FROM portfolio_kpiperiodvalue r
        WHERE r.kpi_id IN (SELECT kpi_id FROM late) AND r.measured_on <= %(as_of)s
        UNION ALL
        SELECT r.kpi_id, r.period, l.measured_on, l.value
        FROM portfolio_kpiperiodvalue r
        JOIN LATERAL (
            SELECT m.measured_on, m.value FROM portfolio_measurement m
            WHERE m.kpi_id = r.kpi_id AND m.measured_on >= r.period
              AND m.measured_on <= %(as_of)s
            ORDER BY m.measured_on DESC LIMIT 1
        ) l ON TRUE
        WHERE r.kpi_id IN (SELECT kpi_id FROM late) AND r.period <= %(as_of)s
          AND r.measured_on > %(as_of)s
    ), late_seg AS (
        SELECT {key_src.format(alias="k")} AS key, k.cadence, kp.period AS start,
               LEAD(kp.period) OVER (PARTITION BY kp.kpi_id ORDER BY kp.period) AS next,
               {value_rollup.AMOUNT.format(rate=late_rate)}
                   AS amount,
               k.value_currency AS currency
        FROM kp
        JOIN portfolio_kpi k ON k.id = kp.kpi_id
        {bucket_join.format(alias="k")}
        WHERE {value_rollup.ELIGIBLE}
    ), stored_late AS (
        SELECT {key_src.format(alias="s")} AS key, s.cadence, s.start, s.next, s.amount,
               s.currency
        FROM finance_valuesegment s
        {bucket_join.format(alias="s")}
        WHERE s.kpi_id IN (SELECT kpi_id FROM late)
    ),"""
    )
    if by_unit:
        p.add(
            f"""raw_steps AS (
            SELECT bk.bucket_id AS key, s.cadence, s.at, s.amount AS d, s.starts AS n
            FROM finance_valueunitstep s JOIN buckets bk ON bk.unit_id = s.business_unit_id
            WHERE (%(value_units)s::bigint[] IS NULL OR s.business_unit_id = ANY(%(value_units)s))
              AND s.at <= {upto.format(a="s")}
            UNION ALL
            SELECT key, cadence, start, -COALESCE(amount, 0), -1 FROM stored_late s
            WHERE s.start <= {upto.format(a="s")}
            UNION ALL
            SELECT key, cadence, next, COALESCE(amount, 0), 0 FROM stored_late s
            WHERE s.next <= {upto.format(a="s")}
        ), value_missing AS (
            SELECT key, currency FROM (
                SELECT bk.bucket_id AS key, m.currency, m.segments AS n
                FROM finance_valueunitmissing m
                JOIN buckets bk ON bk.unit_id = m.business_unit_id
                WHERE %(value_units)s::bigint[] IS NULL OR m.business_unit_id = ANY(%(value_units)s)
                UNION ALL
                SELECT key, currency, -1 FROM stored_late WHERE amount IS NULL
                UNION ALL
                SELECT key, currency, 1 FROM late_seg WHERE amount IS NULL
            ) x GROUP BY 1, 2 HAVING SUM(n) > 0
        ),"""
        )
    else:
        p.add(
            f"""seg AS (
            SELECT {key_src.format(alias="s")} AS key, s.cadence, s.start, s.next, s.amount,
                   s.currency
            FROM finance_valuesegment s
            {bucket_join.format(alias="s")}
            WHERE {value_scope.format(a="s")} AND s.kpi_id NOT IN (SELECT kpi_id FROM late)
        ), raw_steps AS (
            SELECT key, cadence, start AS at, COALESCE(amount, 0) AS d, 1 AS n FROM seg
            UNION ALL
            SELECT key, cadence, next, -COALESCE(amount, 0), 0 FROM seg WHERE next IS NOT NULL
        ), value_missing AS (
            SELECT key, currency FROM seg WHERE amount IS NULL
            UNION
            SELECT key, currency FROM late_seg WHERE amount IS NULL
        ),"""
        )
    p.add(
        """steps AS (
        SELECT key, cadence, at, SUM(d) AS d FROM (
            SELECT * FROM raw_steps
            UNION ALL
            SELECT key, cadence, start, COALESCE(amount, 0), 1 FROM late_seg
            UNION ALL
            SELECT key, cadence, next, -COALESCE(amount, 0), 0 FROM late_seg
            WHERE next IS NOT NULL
        ) x GROUP BY 1, 2, 3
        HAVING SUM(d) <> 0 OR SUM(n) <> 0
    ), levels AS (
        SELECT key, cadence, at,
               SUM(d) OVER (PARTITION BY key, cadence ORDER BY at) AS level,
               LEAD(at) OVER (PARTITION BY key, cadence ORDER BY at) AS until
        FROM steps
    ), value AS (
        SELECT l.key, date_trunc('month', pd)::date AS month, SUM(l.level) AS value
        FROM levels l
        CROSS JOIN LATERAL generate_series(
            l.at::timestamp,
            COALESCE(l.until - portfolio_kpi_period_step(l.cadence),
                     portfolio_kpi_period(l.cadence, %(as_of)s)::timestamp),
            portfolio_kpi_period_step(l.cadence)) pd
        GROUP BY 1, 2
    ),"""
    )
    p.add(
        """missing AS (
        SELECT key, ARRAY_AGG(DISTINCT currency) AS missing FROM (
            SELECT key, currency FROM cost_missing
            UNION ALL
            SELECT key, currency FROM value_missing
        ) x GROUP BY key
    ), monthly AS (
        SELECT COALESCE(c.key, v.key) AS key, COALESCE(c.month, v.month) AS month,
               COALESCE(c.cost, 0) AS cost, c.one_time, c.operational, v.value,
               (v.key IS NOT NULL) AS measured
        FROM cost c FULL OUTER JOIN value v ON c.key = v.key AND c.month = v.month
    ), cumulative AS (
        SELECT *, SUM(cost) OVER w AS cum_cost, SUM(COALESCE(value, 0)) OVER w AS cum_value
        FROM monthly WINDOW w AS (PARTITION BY key ORDER BY month)
    ), totals AS (
        SELECT c.key,
               ROUND(COALESCE(SUM(one_time), 0), 2) AS one_time_cost,
               ROUND(COALESCE(SUM(operational), 0), 2) AS operational_cost,
               ROUND(SUM(cost), 2) AS total_cost,
               CASE WHEN BOOL_OR(measured) THEN ROUND(SUM(COALESCE(value, 0)), 2) END
                   AS realised_value,
               MIN(month) FILTER (WHERE measured AND cum_cost > 0 AND cum_value >= cum_cost)
                   AS payback_month,
               MIN(mi.missing) AS missing
        FROM cumulative c LEFT JOIN missing mi ON mi.key = c.key
        GROUP BY c.key
    )"""
    )
    if by_unit:
        units = _scoped(BusinessUnit.objects, user)
        if unit is not None:
            base_ids, base_params = _ids_sql(units)
            p.add(
                f"""SELECT u.id AS key_id, u.code, u.name, u.id AS business_unit_id, t.*
                FROM people_businessunit u
                LEFT JOIN totals t ON t.key = u.id
                WHERE u.id IN ({base_ids}) AND (u.parent_id = %s OR u.id = %s)
                ORDER BY u.name""",
                [*base_params, unit.pk, unit.pk],
            )
        else:
            base_ids, base_params = _ids_sql(units)
            p.add(
                f"""SELECT u.id AS key_id, u.code, u.name, u.id AS business_unit_id, t.*
                FROM people_businessunit u
                LEFT JOIN totals t ON t.key = u.id
                WHERE u.id IN ({base_ids}) AND u.parent_id IS NULL
                ORDER BY u.name""",
                base_params,
            )
    else:
        inits = _scoped(Initiative.objects, user)
        if initiative_ids is not None:
            inits = inits.filter(pk__in=initiative_ids)
        base_ids, base_params = _ids_sql(inits)
        unit_filter = (
            "AND i.business_unit_id IN (SELECT unit_id FROM buckets)" if unit is not None else ""
        )
        p.add(
            f"""SELECT i.id AS key_id, i.code, i.name, i.business_unit_id, t.*
            FROM portfolio_initiative i
            LEFT JOIN totals t ON t.key = i.id
            WHERE i.id IN ({base_ids}) {unit_filter}
            ORDER BY i.code""",
            base_params,
        )
    result = []
    for r in _fetch(p.sql, p.values):
        cost = r["total_cost"] or Decimal("0")
        value = r["realised_value"]
        result.append(
            ValueRow(
                key_id=r["key_id"],
                code=r["code"],
                name=r["name"],
                business_unit_id=r["business_unit_id"],
                one_time_cost=r["one_time_cost"] or Decimal("0.00"),
                operational_cost=r["operational_cost"] or Decimal("0.00"),
                total_cost=_q(cost),
                realised_value=value,
                roi=_q((value - cost) / cost, 4) if value is not None and cost else None,
                payback_month=r["payback_month"],
                missing_rates=sorted(set(r["missing"] or [])),
                currency=settings.REPORTING_CURRENCY,
            )
        )
    return result


def initiative_value(
    *,
    user,
    unit: BusinessUnit | None = None,
    as_of: dt.date | None = None,
    initiative_ids: list[int] | None = None,
) -> list[ValueRow]:
    """Per visible initiative (optionally within ``unit`` and its children, or only
    ``initiative_ids``): one-time, operational and total cost to ``as_of``, realised value
    (None when not measured), ROI and payback month. Every visible initiative appears,
    spending or not. One query.

    Realised value of a business KPI with a baseline and a value per unit: for each
    elapsed cadence period (week, month or quarter) from its first measurement to the
    period of ``as_of``, the level of the latest measurement at or before that period
    (carried forward) above the baseline, times the value per unit, converted at the rate
    of that measurement's day. Recording the same level ten times in a month counts once;
    a KPI measured in January and April counts February and March at January's level."""
    return _value_rows(
        user=user, by_unit=False, unit=unit, as_of=as_of, initiative_ids=initiative_ids
    )


def unit_value(
    *, user, unit: BusinessUnit | None = None, as_of: dt.date | None = None
) -> list[ValueRow]:
    """The same figures per unit, each unit's descendants rolled up into it: the
    top-level units, or ``unit`` itself (its own initiatives) and its direct children."""
    return _value_rows(user=user, by_unit=True, unit=unit, as_of=as_of)
