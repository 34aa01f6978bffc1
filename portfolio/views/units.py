"""Business units: the tree with each unit's portfolio summary, and one unit's page.

These live in portfolio (not people) because they show initiatives and money, and
people imports nothing from the apps above it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from people.models import BusinessUnit, UnitMembership
from portfolio import crossapp, selectors
from portfolio.choices import ACTIVE_STAGES


@login_required
def unit_list(request):
    user = request.user
    units = list(selectors.units_with_summary(user))
    values = {v.key_id: v for v in crossapp.unit_values(user)}
    for unit in units:
        unit.value_row = values.get(unit.pk)
    tree = selectors.unit_tree(units)
    for node in tree:  # each top unit's sub-units, flattened with their depth
        node["descendants"] = list(_descendants(node["children"], 1))
    page_obj = Paginator(tree, UNITS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "portfolio/unit_list.html",
        {
            "tree": tree,
            "page_obj": page_obj,
            "unit_count": len(units),
            # A small organisation reads best unfolded; a large one starts folded.
            "expanded": len(units) <= EXPAND_UP_TO,
            "reporting_currency": settings.REPORTING_CURRENCY,
        },
    )


#: Top-level units per page of the unit tree; sub-units fold under their top unit.
UNITS_PER_PAGE = 20
EXPAND_UP_TO = 30


def _descendants(nodes, depth):
    for node in nodes:
        yield {"unit": node["unit"], "depth": depth}
        yield from _descendants(node["children"], depth + 1)


@login_required
def unit_detail(request, pk: int):
    user = request.user
    unit = get_object_or_404(
        BusinessUnit.objects.visible_to(user).select_related("parent", "lead"), pk=pk
    )
    subtree = selectors.unit_descendant_ids(unit.pk)
    funnel = selectors.stage_funnel(user, unit_ids=subtree)
    children = list(selectors.units_with_summary(user).filter(parent_id=unit.pk))
    values = {v.key_id: v for v in crossapp.unit_values(user, unit=unit)}
    for child in children:
        child.value_row = values.get(child.pk)
    initiatives = (
        selectors.initiatives_for_list(user)
        .filter(business_unit_id__in=subtree, stage__in=ACTIVE_STAGES)
        .order_by("stage_rank", "code")
    )
    members = (
        UnitMembership.objects.visible_to(user)
        .filter(business_unit=unit)
        .select_related("user")
        .order_by("role", "user__last_name", "user__username")
    )
    return render(
        request,
        "portfolio/unit_detail.html",
        {
            "unit": unit,
            "funnel": funnel,
            "funnel_chart": {
                "labels": [r["label"] for r in funnel],
                "counts": [r["count"] for r in funnel],
            },
            "children": children,
            "own_value": values.get(unit.pk),
            "totals": crossapp.budget_totals(user, unit=unit),
            "initiatives": initiatives[:25],
            "initiative_count": initiatives.count(),
            "members": members[:50],
            "reporting_currency": settings.REPORTING_CURRENCY,
        },
    )
