"""The scaling scorecard: a units x dimensions heatmap (PMO: every top-level unit; a unit
lead: their units), and one unit's scorecard with its weakest dimension first, each score's
parts one click away, and the monthly trend. Out of scope: 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from people.models import BusinessUnit
from portfolio.choices import Dimension
from portfolio.models import ScorecardSnapshot
from portfolio.scorecard import scorecards, top_visible_unit_ids


@login_required
def scorecard_heatmap(request):
    # A unit lead's units are a small part of the portfolio; a global role's are all of it.
    narrow = BusinessUnit.objects.visible_unit_ids(request.user) is not None
    cards = scorecards(top_visible_unit_ids(request.user), narrow=narrow)
    return render(
        request,
        "portfolio/scorecard_heatmap.html",
        {"cards": cards, "dimensions": Dimension.choices},
    )


@login_required
def unit_scorecard(request, pk: int):
    unit = get_object_or_404(BusinessUnit.objects.visible_to(request.user), pk=pk)
    [card] = scorecards([unit.pk], narrow=True)
    trend = list(
        ScorecardSnapshot.objects.visible_to(request.user)
        .filter(business_unit=unit)
        .order_by("-month")[:12]
    )
    labels = dict(Dimension.choices)
    return render(
        request,
        "portfolio/unit_scorecard.html",
        {
            "unit": unit,
            "card": card,
            "weakest_first": card.weakest_first(),
            "trend": [
                {"month": s.month, "scores": [s.scores.get(d) for d in labels]}
                for s in reversed(trend)
            ],
            "dimension_labels": list(labels.values()),
        },
    )
