"""FOCUS reads, each one statement computed by PostgreSQL and scoped through
``FocusLine.objects.visible_to(user)``: unallocated spend (global roles only, since such
lines belong to no unit), the top untagged resources, an initiative's AI token usage and
AI-service spend by provider. Amounts are in the cost basis of the settings; totals in
the reporting currency use the dated exchange rates (``finance.selectors``' rule: a
currency without a rate is left out and named, never counted at 1)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection

from finance.focus.models import FocusLine, FocusSettings
from finance.focus.spec import AI_SERVICE_CATEGORY


def _ids_sql(queryset) -> tuple[str, tuple]:
    """The SQL of ``queryset.values('id')``, to use as ``id IN (...)``."""
    try:
        return queryset.values("id").query.sql_with_params()
    except EmptyResultSet:  # a user with no units
        return "SELECT NULL::bigint WHERE FALSE", ()


def _cost_column() -> str:
    return "effective_cost" if FocusSettings.current().cost_basis == "effective" else "billed_cost"


def _fetch(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


_RATE = """LEFT JOIN LATERAL (
    SELECT r.rate FROM finance_exchangerate r
    WHERE r.currency = g.currency AND r.valid_from <= g.month ORDER BY r.valid_from DESC LIMIT 1
) fx ON TRUE"""


def unallocated_summary(*, user, limit: int = 20) -> dict[str, Any]:
    """Unallocated lines: totals per currency (and in the reporting currency), by
    provider and service, and the top untagged resources by cost. Empty for anyone
    without the global view (unallocated lines belong to no unit)."""
    ids, params = _ids_sql(FocusLine.objects.visible_to(user).filter(initiative__isnull=True))
    cost = _cost_column()
    rep = settings.REPORTING_CURRENCY
    base = f"SELECT * FROM finance_focusline WHERE id IN ({ids})"
    totals = _fetch(
        f"""SELECT g.currency, SUM(g.amount) AS amount, SUM(g.lines) AS lines,
                   SUM(g.amount * CASE WHEN g.currency = %s THEN 1 ELSE fx.rate END)
                       AS reporting_amount,
                   bool_or(g.currency <> %s AND fx.rate IS NULL) AS missing_rate
            FROM (SELECT billing_currency AS currency,
                         date_trunc('month', charge_period_start)::date AS month,
                         SUM({cost}) AS amount, COUNT(*) AS lines
                  FROM ({base}) l GROUP BY 1, 2) g {_RATE}
            GROUP BY g.currency ORDER BY g.currency""",
        [rep, rep, *params],
    )
    by_service = _fetch(
        f"""SELECT provider, service_name, billing_currency AS currency, SUM({cost}) AS amount,
                   COUNT(*) AS lines,
                   COUNT(*) FILTER (WHERE tags = '{{}}'::jsonb) AS untagged_lines
            FROM ({base}) l GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT %s""",
        [*params, limit],
    )
    untagged = _fetch(
        f"""SELECT provider, service_name, sub_account_id,
                   COALESCE(NULLIF(resource_id, ''), '(no resource id)') AS resource_id,
                   max(resource_name) AS resource_name, billing_currency AS currency,
                   SUM({cost}) AS amount, COUNT(*) AS lines
            FROM ({base}) l WHERE tags = '{{}}'::jsonb
            GROUP BY 1, 2, 3, 4, 6 ORDER BY amount DESC LIMIT %s""",
        [*params, limit],
    )
    reporting_total = sum(
        (t["reporting_amount"] for t in totals if t["reporting_amount"] is not None), start=0
    )
    return {
        "totals": totals,
        "reporting_total": reporting_total,
        "missing_rates": [t["currency"] for t in totals if t["missing_rate"]],
        "by_service": by_service,
        "untagged": untagged,
        "reporting_currency": rep,
    }


def initiative_ai_usage(*, user, initiative) -> list[dict[str, Any]]:
    """Token spend and volume of one initiative per month and model (newest first),
    with input and output tokens apart."""
    ids, params = _ids_sql(
        FocusLine.objects.visible_to(user).filter(initiative=initiative, token_count__isnull=False)
    )
    cost = _cost_column()
    return _fetch(
        f"""SELECT date_trunc('month', charge_period_start AT TIME ZONE 'UTC')::date AS month,
                   COALESCE(NULLIF(ai_model, ''), service_name) AS model, provider,
                   billing_currency AS currency, SUM({cost}) AS amount,
                   SUM(token_count) AS tokens,
                   SUM(token_count) FILTER (WHERE token_type LIKE '%%input%%') AS input_tokens,
                   SUM(token_count) FILTER (WHERE token_type = 'output') AS output_tokens
            FROM finance_focusline WHERE id IN ({ids})
            GROUP BY 1, 2, 3, 4 ORDER BY 1 DESC, 5 DESC""",
        list(params),
    )


def ai_spend_by_provider(*, user, year: int | None = None) -> list[dict[str, Any]]:
    """AI-service spend (ServiceCategory "AI and Machine Learning") by provider, in the
    reporting currency, with the allocated part and tokens."""
    qs = FocusLine.objects.visible_to(user).filter(service_category=AI_SERVICE_CATEGORY)
    if year:
        qs = qs.filter(charge_period_start__year=year)
    ids, params = _ids_sql(qs)
    cost = _cost_column()
    rep = settings.REPORTING_CURRENCY
    return _fetch(
        f"""SELECT g.provider,
                   SUM(g.amount * CASE WHEN g.currency = %s THEN 1 ELSE fx.rate END) AS amount,
                   SUM(g.allocated * CASE WHEN g.currency = %s THEN 1 ELSE fx.rate END)
                       AS allocated,
                   SUM(g.tokens) AS tokens,
                   bool_or(g.currency <> %s AND fx.rate IS NULL) AS missing_rate
            FROM (SELECT COALESCE(NULLIF(provider, ''), 'Other') AS provider,
                         billing_currency AS currency,
                         date_trunc('month', charge_period_start)::date AS month,
                         SUM({cost}) AS amount,
                         SUM({cost}) FILTER (WHERE initiative_id IS NOT NULL) AS allocated,
                         SUM(token_count) AS tokens
                  FROM finance_focusline WHERE id IN ({ids}) GROUP BY 1, 2, 3) g {_RATE}
            GROUP BY g.provider ORDER BY 2 DESC NULLS LAST""",
        [rep, rep, rep, *params],
    )
