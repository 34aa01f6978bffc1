"""django-filter FilterSets for governance registers; unit choices are the user's units."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from governance.models import (
    AccessReview,
    AISystem,
    ControlAttestation,
    ExplainabilityRecord,
    FairnessAudit,
    GateReview,
    Incident,
    ModelVersion,
    RiskAssessment,
    Standard,
)
from people.models import BusinessUnit
from portfolio.choices import Dimension, RiskTier, Stage


def _visible_units(request):
    if request is None:
        return BusinessUnit.objects.none()
    return BusinessUnit.objects.visible_to(request.user).order_by("name")


class _UnitSearchFilter(django_filters.FilterSet):
    """Search plus a business-unit filter (the unit and its children)."""

    search_fields: tuple[str, ...] = ("initiative__name", "initiative__code")

    q = django_filters.CharFilter(method="search", label="Search")
    business_unit = django_filters.ModelChoiceFilter(
        queryset=_visible_units, label="Business unit", method="in_unit", empty_label="Any unit"
    )

    def search(self, qs, name, value):
        value = value.strip()
        if not value:
            return qs
        cond = Q()
        for field in self.search_fields:
            cond |= Q(**{f"{field}__icontains": value})
        return qs.filter(cond)

    def in_unit(self, qs, name, unit):
        if not unit:
            return qs
        return qs.filter(Q(business_unit=unit) | Q(business_unit__parent=unit))


class GateReviewFilter(_UnitSearchFilter):
    status = django_filters.ChoiceFilter(
        choices=GateReview.Status.choices, empty_label="Any status"
    )
    reason = django_filters.ChoiceFilter(
        choices=GateReview.Reason.choices, empty_label="Any reason"
    )
    target_stage = django_filters.ChoiceFilter(
        choices=Stage.choices, empty_label="Any gate", label="Gate into"
    )
    blocked = django_filters.BooleanFilter(
        method="only_blocked",
        label="Blocked only",
        widget=django_filters.widgets.BooleanWidget(),
    )

    class Meta:
        model = GateReview
        fields = ["q", "business_unit", "status", "reason", "target_stage", "blocked"]

    def only_blocked(self, qs, name, value):
        if value is None:
            return qs
        return qs.filter(blocking_count__gt=0) if value else qs.filter(blocking_count=0)


class ModelVersionFilter(_UnitSearchFilter):
    search_fields = ("ai_system__name", "version", "ai_system__initiative__name")
    status = django_filters.ChoiceFilter(
        choices=ModelVersion.Status.choices, empty_label="Any status"
    )

    class Meta:
        model = ModelVersion
        fields = ["q", "business_unit", "status"]


class AISystemFilter(_UnitSearchFilter):
    search_fields = ("name", "vendor", "initiative__name", "initiative__code")

    class Meta:
        model = AISystem
        fields = ["q", "business_unit"]


class RiskAssessmentFilter(_UnitSearchFilter):
    eu_tier = django_filters.ChoiceFilter(
        choices=RiskTier.choices, empty_label="Any tier", label="EU tier"
    )
    status = django_filters.ChoiceFilter(
        choices=RiskAssessment.Status.choices, empty_label="Any status"
    )
    us_high_impact = django_filters.BooleanFilter(
        label="US high-impact", widget=django_filters.widgets.BooleanWidget()
    )
    overdue = django_filters.BooleanFilter(
        label="Review overdue",
        method="review_overdue",
        widget=django_filters.widgets.BooleanWidget(),
    )

    class Meta:
        model = RiskAssessment
        fields = ["q", "business_unit", "eu_tier", "status", "us_high_impact", "overdue"]

    def review_overdue(self, queryset, name, value):
        """The rows the unit home's "Overdue risk reviews" counts (same selector)."""
        if value is None or self.request is None:
            return queryset
        from portfolio.selectors import overdue_risk_reviews

        ids = overdue_risk_reviews(self.request.user).values("pk")
        return queryset.filter(pk__in=ids) if value else queryset.exclude(pk__in=ids)


class AttestationFilter(_UnitSearchFilter):
    search_fields = ("initiative__name", "initiative__code", "control__code", "control__name")
    status = django_filters.ChoiceFilter(
        choices=ControlAttestation.Status.choices, empty_label="Any status"
    )

    class Meta:
        model = ControlAttestation
        fields = ["q", "business_unit", "status"]


class FairnessAuditFilter(_UnitSearchFilter):
    result = django_filters.ChoiceFilter(
        choices=FairnessAudit.Result.choices, empty_label="Any result"
    )

    class Meta:
        model = FairnessAudit
        fields = ["q", "business_unit", "result"]


class ExplainabilityFilter(_UnitSearchFilter):
    class Meta:
        model = ExplainabilityRecord
        fields = ["q", "business_unit"]


class IncidentFilter(_UnitSearchFilter):
    search_fields = ("title", "initiative__name", "initiative__code")
    severity = django_filters.ChoiceFilter(
        choices=Incident.Severity.choices, empty_label="Any severity"
    )
    status = django_filters.ChoiceFilter(choices=Incident.Status.choices, empty_label="Any status")
    open = django_filters.BooleanFilter(
        label="Still open", method="still_open", widget=django_filters.widgets.BooleanWidget()
    )

    class Meta:
        model = Incident
        fields = ["q", "business_unit", "severity", "status", "open"]

    def still_open(self, queryset, name, value):
        """Open, investigating or mitigated: what the home pages count as open."""
        if value is None:
            return queryset
        from portfolio.selectors import OPEN_INCIDENT_STATUSES

        q = {"status__in": OPEN_INCIDENT_STATUSES}
        return queryset.filter(**q) if value else queryset.exclude(**q)


class AccessReviewFilter(_UnitSearchFilter):
    search_fields = ("name", "business_unit__name")
    status = django_filters.ChoiceFilter(
        choices=AccessReview.Status.choices, empty_label="Any status"
    )

    class Meta:
        model = AccessReview
        fields = ["q", "business_unit", "status"]


class StandardFilter(django_filters.FilterSet):
    target_stage = django_filters.ChoiceFilter(
        choices=Stage.choices, empty_label="Any gate", label="Gate into"
    )
    dimension = django_filters.ChoiceFilter(choices=Dimension.choices, empty_label="Any dimension")
    applies_to = django_filters.ChoiceFilter(
        choices=RiskTier.choices, empty_label="Any tier", label="Applies to tier", method="tier"
    )

    class Meta:
        model = Standard
        fields = ["target_stage", "dimension", "applies_to"]

    def tier(self, qs, name, value):
        if not value:
            return qs
        return qs.filter(Q(applies_to_tiers__len=0) | Q(applies_to_tiers__contains=[value]))
