"""FilterSets for the finance list pages; choices restricted to what the user may see."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.conf import settings
from django.db.models import Q

from finance.models import Budget, CostCategory, CostKind, SpendEntry
from people.models import BusinessUnit
from portfolio.models import Initiative
from portfolio.widgets import InitiativeAutocomplete


def _visible_units(request):
    if request is None:
        return BusinessUnit.objects.none()
    return BusinessUnit.objects.visible_to(request.user).order_by("name")


def _visible_initiatives(request):
    if request is None:
        return Initiative.objects.none()
    return Initiative.objects.visible_to(request.user).order_by("code")


def _unit_tree_ids(unit: BusinessUnit) -> list[int]:
    """The unit and its descendants (one recursive query)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """WITH RECURSIVE tree AS (
                   SELECT id FROM people_businessunit WHERE id = %s
                   UNION ALL
                   SELECT c.id FROM people_businessunit c JOIN tree t ON c.parent_id = t.id)
               SELECT id FROM tree""",
            [unit.pk],
        )
        return [row[0] for row in cursor.fetchall()]


class _UnitTreeMixin:
    def in_unit_tree(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(business_unit_id__in=_unit_tree_ids(value))


class BudgetFilter(_UnitTreeMixin, django_filters.FilterSet):
    business_unit = django_filters.ModelChoiceFilter(
        queryset=_visible_units,
        label="Business unit",
        method="in_unit_tree",
        empty_label="Any unit",
    )
    fiscal_year = django_filters.NumberFilter(label="Fiscal year")
    kind = django_filters.ChoiceFilter(choices=CostKind.choices, empty_label="Any kind")
    category = django_filters.ChoiceFilter(choices=CostCategory.choices, empty_label="Any category")
    status = django_filters.ChoiceFilter(choices=Budget.Status.choices, empty_label="Any status")

    class Meta:
        model = Budget
        fields = ["business_unit", "fiscal_year", "kind", "category", "status"]


class SpendFilter(_UnitTreeMixin, django_filters.FilterSet):
    business_unit = django_filters.ModelChoiceFilter(
        queryset=_visible_units,
        label="Business unit",
        method="in_unit_tree",
        empty_label="Any unit",
    )
    initiative = django_filters.CharFilter(
        label="Initiative", method="by_initiative", widget=InitiativeAutocomplete()
    )
    kind = django_filters.ChoiceFilter(choices=CostKind.choices, empty_label="Any kind")
    category = django_filters.ChoiceFilter(choices=CostCategory.choices, empty_label="Any category")
    month = django_filters.CharFilter(
        label="Month",
        method="in_month",
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
    )
    currency = django_filters.ChoiceFilter(
        choices=[(c, c) for c in settings.CURRENCIES], empty_label="Any currency"
    )
    vendor = django_filters.CharFilter(lookup_expr="icontains", label="Vendor")

    class Meta:
        model = SpendEntry
        fields = ["business_unit", "initiative", "kind", "category", "month", "currency", "vendor"]

    def by_initiative(self, queryset, name, value):
        """An initiative's code, or its id (links and the API use ids). The queryset is
        already scoped, so another unit's initiative simply matches nothing."""
        value = value.strip()
        match = Q(initiative__code=value)
        if value.isdigit():
            match |= Q(initiative_id=int(value))
        return queryset.filter(match)

    def in_month(self, queryset, name, value):
        try:
            start = dt.datetime.strptime(value.strip(), "%Y-%m").date()
        except ValueError:
            return queryset.none()
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return queryset.filter(Q(posted_on__gte=start) & Q(posted_on__lt=end))
