"""django-filter FilterSets for portfolio list pages; choices restricted to what the user sees."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q

from people.models import BusinessUnit, CenterOfExcellence
from portfolio.choices import ACTIVE_STAGES, RiskTier, Stage
from portfolio.models import Assignment, Initiative
from portfolio.widgets import UserAutocomplete


def _active(user):
    return Initiative.objects.visible_to(user).filter(stage__in=ACTIVE_STAGES).values("pk")


def _in_production(user):
    return Initiative.objects.visible_to(user).filter(stage__in=ACTIVE_STAGES[1:]).values("pk")


def _stalled(user):
    from portfolio import selectors

    return selectors.stalled_pilots(user).values("pk")


def _gaps(user):
    from portfolio import selectors

    return selectors.governance_gaps(user).values("pk")


def _stale_kpis(user):
    from portfolio import selectors

    return selectors.stale_kpis(user).values("initiative_id")


#: ``?attention=`` on the initiative list: the rows behind each count on the home pages.
ATTENTION_SELECTORS = {
    "active": _active,
    "in_production": _in_production,
    "stalled": _stalled,
    "governance_gap": _gaps,
    "stale_kpi": _stale_kpis,
}
ATTENTION_CHOICES = [
    ("active", "Active (in one of the four stages)"),
    ("in_production", "In production or beyond"),
    ("stalled", "Stalled pilot"),
    ("governance_gap", "Governance gap"),
    ("stale_kpi", "A KPI not measured in its cadence"),
]


def _visible_units(request):
    if request is None:
        return BusinessUnit.objects.none()
    return BusinessUnit.objects.visible_to(request.user).order_by("name")


def owners_visible_to(user):
    """People holding an accountable role on an initiative ``user`` can see (the owner
    filter's scope, also its autocomplete's)."""
    visible = Assignment.objects.visible_to(user)
    return (
        get_user_model()
        .objects.filter(Exists(visible.filter(user_id=OuterRef("pk"))))
        .order_by("first_name", "last_name", "username")
    )


class InitiativeFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    business_unit = django_filters.ModelChoiceFilter(
        queryset=_visible_units, label="Business unit", method="in_unit_tree"
    )
    stage = django_filters.ChoiceFilter(choices=Stage.choices, empty_label="Any stage")
    status = django_filters.ChoiceFilter(
        choices=Initiative.Status.choices, empty_label="Any status"
    )
    risk_tier = django_filters.ChoiceFilter(
        choices=RiskTier.choices, empty_label="Any tier", label="Risk tier"
    )
    coe = django_filters.ModelChoiceFilter(
        queryset=CenterOfExcellence.objects.order_by("name"), label="CoE", empty_label="Any CoE"
    )
    # A username (or id) with suggestions, not a drop-down of every owner (2,000 at scale).
    owner = django_filters.CharFilter(label="Owner", method="owned_by", widget=UserAutocomplete())
    stalled = django_filters.ChoiceFilter(
        choices=[("1", "Stalled"), ("0", "Not stalled")],
        empty_label="Stalled or not",
        label="Stalled",
        method="by_stalled",
    )
    attention = django_filters.ChoiceFilter(
        choices=ATTENTION_CHOICES, method="needing", label="Needs", empty_label="Anything"
    )

    class Meta:
        model = Initiative
        fields = [
            "q",
            "business_unit",
            "stage",
            "status",
            "risk_tier",
            "coe",
            "owner",
            "stalled",
            "attention",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["business_unit"].extra["empty_label"] = "Any unit"
        self.form.fields["q"].widget.attrs.update(
            {"placeholder": "Code, name or summary", "type": "search"}
        )

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(code__icontains=value) | Q(name__icontains=value) | Q(summary__icontains=value)
        )

    def in_unit_tree(self, queryset, name, value):
        """A unit includes its child units (as grants do)."""
        if not value:
            return queryset
        ids = _descendant_ids(value.pk)
        return queryset.filter(business_unit_id__in=ids)

    def by_stalled(self, queryset, name, value):
        """The one stall rule (``InitiativeQuerySet.with_stall``); the list's queryset
        already carries its annotations."""
        if value in ("", None):
            return queryset
        if "stalled" not in queryset.query.annotations:
            queryset = queryset.with_stall()
        return queryset.filter(stalled=value == "1")

    def needing(self, queryset, name, value):
        """The initiatives a home-page count counts, from the selector that counts them."""
        selector = ATTENTION_SELECTORS.get(value)
        if selector is None or self.request is None:
            return queryset
        return queryset.filter(pk__in=selector(self.request.user))

    def owned_by(self, queryset, name, value):
        """A username, or a user id (links use ids). The initiatives are already scoped, so
        someone who owns only other units' initiatives matches nothing."""
        value = (value or "").strip()
        if not value:
            return queryset
        match = Q(user__username=value)
        if value.isdigit():
            match |= Q(user_id=int(value))
        return queryset.filter(
            Exists(Assignment.objects.filter(match, initiative_id=OuterRef("pk")))
        )


def _descendant_ids(unit_id: int):
    """A subquery of the unit and every unit below it (recursive CTE, one SQL statement)."""
    from django.db.models.expressions import RawSQL

    return RawSQL(
        """WITH RECURSIVE tree AS (
               SELECT id FROM people_businessunit WHERE id = %s
               UNION SELECT c.id FROM people_businessunit c JOIN tree ON c.parent_id = tree.id)
           SELECT id FROM tree""",
        (unit_id,),
    )
