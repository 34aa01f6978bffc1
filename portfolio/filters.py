"""django-filter FilterSets for portfolio list pages; choices restricted to what the user sees."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q

from people.models import BusinessUnit, CenterOfExcellence
from portfolio.choices import ACTIVE_STAGES, RiskTier, Stage
from portfolio.models import Assignment, Initiative


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


def _owners(request):
    """People holding an accountable role on an initiative the user can see."""
    if request is None:
        return get_user_model().objects.none()
    visible = Assignment.objects.visible_to(request.user)
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
    owner = django_filters.ModelChoiceFilter(
        queryset=_owners, label="Owner", method="owned_by", empty_label="Anyone"
    )
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
        owner_field = self.form.fields["owner"]
        owner_field.label_from_instance = lambda u: u.get_full_name() or u.get_username()
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
        if not value:
            return queryset
        return queryset.filter(
            Exists(Assignment.objects.filter(initiative_id=OuterRef("pk"), user_id=value.pk))
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
