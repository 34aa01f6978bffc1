"""The home page, by role: PMO (and, read-only, CoE/auditors), Finance, unit lead.

Every figure is a DB aggregate from ``portfolio.selectors`` or, for money and governance,
``portfolio.crossapp``; each list on the page is sliced, so the query count does not grow
with the portfolio.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from portfolio import crossapp, selectors
from portfolio.choices import ACTIVE_STAGES, Stage
from portfolio.models import Initiative

ROWS = selectors.DASHBOARD_ROWS


def _f(value) -> float:
    return float(value or 0)


def _spend_mix(user, *, fiscal_year: int | None = None) -> dict:
    """One-time versus operational spend per month for the last 12 months (chart data)."""
    months = crossapp.spend_by_month(user, fiscal_year=fiscal_year)[-12:]
    return {
        "labels": [m.month.strftime("%b %Y") for m in months],
        "one_time": [_f(m.one_time) for m in months],
        "operational": [_f(m.operational) for m in months],
        "share": [
            round(_f(m.operational_share) * 100, 1) if m.operational_share is not None else None
            for m in months
        ],
        "currency": settings.REPORTING_CURRENCY,
    }


def _trailing_spend_mix(user) -> dict:
    """Spend mix over this year and last (operational_share_by_month takes one year)."""
    year = timezone.localdate().year
    last = _spend_mix(user, fiscal_year=year - 1)
    this = _spend_mix(user, fiscal_year=year)
    merged = {k: (last[k] + this[k]) if isinstance(last[k], list) else this[k] for k in this}
    for key in ("labels", "one_time", "operational", "share"):
        merged[key] = merged[key][-12:]
    return merged


def _pmo_context(user) -> dict:
    funnel = selectors.stage_funnel(user)
    year = timezone.localdate().year
    spend = selectors.spend_by_stage(user, fiscal_year=year)
    for row in funnel:
        row["spend"] = spend.get(row["stage"], Decimal("0"))
    counts = Initiative.objects.visible_to(user).aggregate(
        active=Count("pk", filter=Q(stage__in=ACTIVE_STAGES)),
        poc=Count("pk", filter=Q(stage=Stage.PROOF_OF_CONCEPT)),
        production=Count("pk", filter=Q(stage__in=ACTIVE_STAGES[1:])),
    )
    stalled = selectors.stalled_pilots(user)
    overdue = crossapp.overdue_stall_decisions(user)
    since = timezone.make_aware(
        dt.datetime.combine(selectors.quarter_start(timezone.localdate()), dt.time.min)
    )
    decisions = selectors.end_decisions(user, since=since)
    gaps = selectors.governance_gaps(user)
    units = crossapp.unit_values(user)
    totals = crossapp.budget_totals(user)
    value_total = sum((u.realised_value or Decimal("0") for u in units), Decimal("0"))
    cost_total = sum((u.total_cost for u in units), Decimal("0"))
    return {
        "funnel": funnel,
        "counts": counts,
        "stalled": stalled[:ROWS],
        "stalled_count": stalled.count(),
        "stalled_url": _stalled_url(Stage.PROOF_OF_CONCEPT),
        "overdue": overdue[:ROWS],
        "overdue_count": overdue.count(),
        "decisions": decisions[:ROWS],
        "decisions_count": decisions.count(),
        "decisions_since": since,
        "gaps": gaps[:ROWS],
        "gaps_count": gaps.count(),
        "unit_values": units,
        "value_total": value_total,
        "cost_total": cost_total,
        "totals": totals,
        "fiscal_year": year,
        "chart": {
            "funnel": {
                "labels": [r["label"] for r in funnel],
                "counts": [r["count"] for r in funnel],
                "spend": [_f(r["spend"]) for r in funnel],
            },
            "value": {
                "labels": [u.name for u in units],
                "cost": [_f(u.total_cost) for u in units],
                "value": [_f(u.realised_value) for u in units],
            },
            "mix": _trailing_spend_mix(user),
            "currency": settings.REPORTING_CURRENCY,
        },
    }


def _stalled_url(stage: str | None = None) -> str:
    """The initiative list showing exactly the rows a stalled count counts."""
    url = reverse("initiative_list") + "?stalled=1"
    return url + (f"&stage={stage}" if stage else "") + "&sort=entered"


def _labelled(rows, attr: str, labels: dict[str, str]) -> list[dict]:
    return [{"row": r, "label": labels.get(getattr(r, attr), getattr(r, attr))} for r in rows]


def _finance_context(user) -> dict:
    year = timezone.localdate().year
    by_unit = crossapp.budget_vs_actual(user, group_by=("unit",), fiscal_year=year)
    by_kind = crossapp.budget_vs_actual(user, group_by=("kind",), fiscal_year=year)
    by_category = crossapp.budget_vs_actual(user, group_by=("category",), fiscal_year=year)
    # Largest first; a spend with no budget at all is the largest variance of all. Only
    # the rows shown are built (the database counts the rest).
    flags = crossapp.variance_flag_page(user, per_page=ROWS, fiscal_year=year)
    kinds, categories = crossapp.cost_kind_labels(), crossapp.cost_category_labels()
    pending = selectors.budgets_awaiting_approval(user)
    return {
        "fiscal_year": year,
        "totals": crossapp.budget_totals(user, fiscal_year=year),
        "by_unit": by_unit,
        "by_unit_rows": [{"row": r, "label": r.unit_name} for r in by_unit],
        "by_kind": _labelled(by_kind, "kind", kinds),
        "by_category": _labelled(by_category, "category", categories),
        "flags": flags.flags,
        "flags_count": flags.count,
        "pending": pending[:ROWS],
        "pending_count": pending.count(),
        "chart": {
            "units": {
                "labels": [r.unit_name for r in by_unit],
                "budget": [_f(r.budget) for r in by_unit],
                "actual": [_f(r.actual) for r in by_unit],
                "forecast": [_f(r.forecast) for r in by_unit],
            },
            "categories": {
                "labels": [categories.get(r.category, r.category) for r in by_category],
                "budget": [_f(r.budget) for r in by_category],
                "actual": [_f(r.actual) for r in by_category],
            },
            "mix": _trailing_spend_mix(user),
            "currency": settings.REPORTING_CURRENCY,
        },
    }


def _unit_context(user) -> dict:
    year = timezone.localdate().year
    funnel = selectors.stage_funnel(user)
    stale = selectors.stale_kpis(user)
    reviews = selectors.overdue_risk_reviews(user)
    incidents = selectors.open_incidents(user)
    pending = selectors.budgets_awaiting_approval(user)
    stalled = crossapp.stalled_initiatives(user).filter(stage=Stage.PROOF_OF_CONCEPT)
    stalled = stalled.order_by("stage_entered_at", "pk")
    recent = (
        selectors.initiatives_for_list(user)
        .filter(stage__in=ACTIVE_STAGES)
        .order_by("-last_activity_on", "pk")
    )
    return {
        "today": timezone.localdate(),
        "fiscal_year": year,
        "funnel": funnel,
        "totals": crossapp.budget_totals(user, fiscal_year=year),
        "stale": stale[:ROWS],
        # Counted as initiatives: the count links to the initiative list (?attention=).
        "stale_count": stale.order_by().values("initiative_id").distinct().count(),
        "reviews": reviews[:ROWS],
        "reviews_count": reviews.count(),
        "incidents": incidents[:ROWS],
        "incidents_count": incidents.count(),
        "pending": pending[:ROWS],
        "pending_count": pending.count(),
        "initiatives": recent[:10],
        "stalled": stalled[:ROWS],
        "stalled_count": stalled.count(),
        "stalled_url": _stalled_url(Stage.PROOF_OF_CONCEPT),
        "chart": {
            "funnel": {
                "labels": [r["label"] for r in funnel],
                "counts": [r["count"] for r in funnel],
            },
            "mix": _trailing_spend_mix(user),
            "currency": settings.REPORTING_CURRENCY,
        },
    }


BUILDERS = {
    "pmo": (_pmo_context, "portfolio/home_pmo.html"),
    "oversight": (_pmo_context, "portfolio/home_pmo.html"),
    "finance": (_finance_context, "portfolio/home_finance.html"),
    "unit": (_unit_context, "portfolio/home_unit.html"),
}


@login_required
def home(request):
    role = selectors.home_role(request.user)
    build, template = BUILDERS[role]
    context = build(request.user)
    context["role"] = role
    context["reporting_currency"] = settings.REPORTING_CURRENCY
    return render(request, template, context)
