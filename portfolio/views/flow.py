"""Portfolio flow analytics: cohorts, time in stage, funnel, the pilot graveyard.

PMO and finance see the whole portfolio, a unit lead their units (everything goes through
``visible_to``); ``?unit=`` narrows to a unit and its children (out of scope: 404).
Each section is one database query (``portfolio.analytics``); each chart has its table.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from html import escape

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from people.models import BusinessUnit
from portfolio import analytics, selectors
from portfolio.analytics import Cohort
from portfolio.exports import neutralise_formula
from portfolio.models import Initiative, StageTransition
from portfolio.services import salvage_reuse_record
from portfolio.templatetags.portfolio_ui import percent
from portfolio.views.listing import paginate

UNIT_COHORT_ROW = "<tr><td>{}</td><td>{}</td>" + '<td class="num">{}</td>' * 6 + "</tr>"


@lru_cache(maxsize=8192)
def _share_cell(n: int | None, started: int) -> str:
    """A cohort share as the table shows it (``percent``, escaped; None: not observable
    yet, a dash). A pure function of the two counts, so formatted once per pair."""
    return escape(percent(None if n is None else Cohort.share_of(n, started)))


def unit_cohort_rows(cohorts) -> SafeString:
    """The "By unit" table's rows: one per unit and start quarter, so hundreds once every
    unit has started something each quarter. The same markup the template's loop wrote
    (every value escaped, ``percent`` for the shares, counts as the template shows
    them), built in one pass without the template language's lookups for each of the
    thousands of cells; each share (a pair of counts), quarter label and unit name is
    formatted once."""
    labels: dict = {}
    names: dict = {}
    thousands = settings.USE_THOUSAND_SEPARATOR
    out = []
    for c in cohorts:
        started = c.started
        label = labels.get(c.quarter)
        if label is None:
            label = labels[c.quarter] = escape(c.label)
        name = names.get(c.unit_name)
        if name is None:
            name = names[c.unit_name] = escape(c.unit_name)
        out.append(
            UNIT_COHORT_ROW.format(
                label,
                name,
                escape(localize(started)) if thousands else started,
                _share_cell(c.reached_6 if c.observable_6 else None, started),
                _share_cell(c.reached_12 if c.observable_12 else None, started),
                _share_cell(c.reached_18 if c.observable_18 else None, started),
                _share_cell(c.killed, started),
                _share_cell(c.in_pilot, started),
            )
        )
    return mark_safe("".join(out))  # noqa: S308 (every value above is escaped)


def flow_query(request) -> dict:
    """The page's and the API's filters: ``unit`` (a visible unit: 404 otherwise), ``q``
    (graveyard search), ``year`` (graveyard year)."""
    unit = None
    unit_ids = None
    raw = request.GET.get("unit", "")
    if raw:
        if not raw.isdigit():
            raise Http404("No such unit.")
        unit = get_object_or_404(BusinessUnit.objects.visible_to(request.user), pk=int(raw))
        unit_ids = selectors.unit_descendant_ids(unit.pk)
    year = request.GET.get("year", "")
    return {
        "unit": unit,
        "unit_ids": unit_ids,
        "q": request.GET.get("q", "").strip()[:200],
        "year": int(year) if year.isdigit() and 1990 < int(year) < 2200 else None,
    }


def flow_sections(user, query: dict) -> dict:
    unit_ids = query["unit_ids"]
    cohorts = analytics.cohorts(user, unit_ids=unit_ids)
    stages = analytics.time_in_stage(user, unit_ids=unit_ids)
    steps = analytics.funnel(user, unit_ids=unit_ids)
    totals = analytics.graveyard_totals(user, q=query["q"], unit_ids=unit_ids, year=query["year"])
    return {"cohorts": cohorts, "time_in_stage": stages, "funnel": steps, "totals": totals}


@login_required
def flow(request):
    user = request.user
    query = flow_query(request)
    sections = flow_sections(user, query)
    graves = analytics.graveyard(user, q=query["q"], unit_ids=query["unit_ids"], year=query["year"])
    page_obj = paginate(request, graves)
    page_obj.object_list = analytics.with_reuses(page_obj.object_list, user)
    overall = [c for c in sections["cohorts"] if c.unit_id is None]
    unit_cohorts = [c for c in sections["cohorts"] if c.unit_id is not None]
    pilot = sections["time_in_stage"][0]
    chart = {
        "cohorts": {
            "labels": [c.label for c in overall],
            "within_12": [
                float(c.share_12 * 100) if c.share_12 is not None else None for c in overall
            ],
            "killed": [float(c.share_killed * 100) for c in overall],
            "in_pilot": [float(c.share_in_pilot * 100) for c in overall],
        },
        "time": {
            "labels": [s["label"] for s in sections["time_in_stage"]],
            "median": [s["median_days"] for s in sections["time_in_stage"]],
            "p90": [s["p90_days"] for s in sections["time_in_stage"]],
        },
        "funnel": {
            "labels": [s["label"] for s in sections["funnel"]],
            "reached": [s["reached"] for s in sections["funnel"]],
        },
    }
    return render(
        request,
        "portfolio/flow.html",
        {
            **sections,
            **query,
            "overall_cohorts": overall,
            "unit_cohorts": unit_cohorts,
            "unit_cohort_rows": unit_cohort_rows(unit_cohorts),
            "pilot_conversion": sections["funnel"][0]["conversion"],
            "median_days_in_pilot": pilot["median_days"],
            "page_obj": page_obj,
            "units": BusinessUnit.objects.visible_to(user).order_by("name"),
            "can_link_reuse": Initiative.objects.editable_by(user).exists(),
            "chart": chart,
            "reporting_currency": settings.REPORTING_CURRENCY,
        },
    )


CSV_SECTIONS = ("cohorts", "time_in_stage", "funnel", "graveyard")


def _csv_rows(user, section: str, query: dict):
    if section == "cohorts":
        yield [
            "quarter",
            "unit",
            "started",
            "reached initial production within 6 months",
            "within 12 months",
            "within 18 months",
            "killed",
            "still in pilot",
        ]
        for c in analytics.cohorts(user, unit_ids=query["unit_ids"]):
            yield [
                c.label,
                c.unit_name,
                c.started,
                c.share_6,
                c.share_12,
                c.share_18,
                c.share_killed,
                c.share_in_pilot,
            ]
    elif section == "time_in_stage":
        yield [
            "stage",
            "completed stays",
            "median days",
            "90th percentile days",
            "ongoing stays",
            "median days of ongoing stays",
        ]
        for s in analytics.time_in_stage(user, unit_ids=query["unit_ids"]):
            yield [
                s["label"],
                s["completed"],
                s["median_days"],
                s["p90_days"],
                s["ongoing"],
                s["ongoing_median_days"],
            ]
    elif section == "funnel":
        yield ["stage", "reached", "conversion to the next stage"]
        for s in analytics.funnel(user, unit_ids=query["unit_ids"]):
            yield [s["label"], s["reached"], s["conversion"]]
    else:
        yield [
            "decided on",
            "initiative",
            "name",
            "unit",
            "decision",
            "sunk cost",
            "currency",
            f"sunk cost ({settings.REPORTING_CURRENCY})",
            "reasons",
            "lessons",
            "salvaged",
        ]
        rows = analytics.graveyard(
            user, q=query["q"], unit_ids=query["unit_ids"], year=query["year"]
        ).values_list(
            "decided_at",
            "initiative__code",
            "initiative__name",
            "business_unit__name",
            "decision",
            "sunk_cost",
            "sunk_cost_currency",
            "sunk_reporting",
            "rationale",
            "lessons",
            "salvaged",
        )
        for r in rows.iterator(chunk_size=2000):
            yield [r[0].date().isoformat(), *r[1:]]


@login_required
def flow_csv(request, section: str):
    if section not in CSV_SECTIONS:
        raise Http404("Unknown section.")
    query = flow_query(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="flow-{section}.csv"'
    writer = csv.writer(response)
    for row in _csv_rows(request.user, section, query):
        writer.writerow(["" if v is None else neutralise_formula(v) for v in row])
    return response


@login_required
@require_POST
def graveyard_reuse(request, pk: int):
    """ "Reused by": link a kill's salvage to the initiative (by code) that reused it."""
    transition = get_object_or_404(StageTransition.objects.visible_to(request.user), pk=pk)
    code = request.POST.get("initiative", "").strip()
    initiative = Initiative.objects.visible_to(request.user).filter(code__iexact=code).first()
    if initiative is None:
        messages.error(request, f"No initiative {code!r} that you can see.")
    else:
        try:
            salvage_reuse_record(
                acting_user=request.user, transition=transition, initiative=initiative
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, f"{initiative.code} reuses what {transition.initiative.code} left."
            )
    return redirect(reverse("flow") + "#graveyard")
