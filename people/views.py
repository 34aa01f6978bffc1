"""Organisation pages: centres of excellence, training programmes and completions.

(Business units, which show initiatives and money, are in ``portfolio.views.units``:
people imports nothing from the apps above it. Counts of initiatives here go through
the reverse relation and the unit scope, never an import.)
"""

from __future__ import annotations

import django_filters
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, render

from people.models import BusinessUnit, CenterOfExcellence, TrainingCompletion, TrainingProgram
from people.scoping import has_global, unit_ids_for

PAGE_SIZE = 25


def _paginate(request, qs):
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


def _initiative_scope(user) -> Q:
    """Initiatives (through a reverse relation named ``initiatives``) the user may see."""
    if has_global(user, "portfolio.view_initiative") or has_global(
        user, "portfolio.change_initiative"
    ):
        return Q()
    return Q(initiatives__business_unit_id__in=unit_ids_for(user, "view"))


def _count_visible(qs, related: str) -> Subquery:
    """A correlated count of the (already scoped) ``qs`` rows pointing at the outer row."""
    rows = qs.filter(**{related: OuterRef("pk")}).order_by()
    return Coalesce(
        Subquery(rows.values(related).annotate(c=Count("pk")).values("c")[:1]), Value(0)
    )


@login_required
def coe_list(request):
    user = request.user
    coes = CenterOfExcellence.objects.select_related("lead").annotate(
        n_members=Count("members", distinct=True),
        n_programs=Count("programs", distinct=True),
        n_initiatives=Count(
            "initiatives",
            filter=_initiative_scope(user) & ~Q(initiatives__stage__in=["retired", "killed"]),
            distinct=True,
        ),
    )
    return render(request, "people/coe_list.html", {"coes": coes.order_by("name")})


@login_required
def coe_detail(request, pk: int):
    user = request.user
    coe = get_object_or_404(CenterOfExcellence.objects.select_related("lead"), pk=pk)
    initiatives = (
        coe.initiatives.visible_to(user)
        .select_related("business_unit")
        .exclude(stage__in=["retired", "killed"])
        .order_by("business_unit__name", "code")
    )
    return render(
        request,
        "people/coe_detail.html",
        {
            "coe": coe,
            "members": coe.members.order_by("first_name", "last_name", "username"),
            "programs": coe.programs.order_by("name"),
            "initiatives": initiatives[:50],
            "initiative_count": initiatives.count(),
        },
    )


class ProgramFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    audience = django_filters.ChoiceFilter(
        choices=TrainingProgram.Audience.choices, empty_label="Any audience"
    )
    coe = django_filters.ModelChoiceFilter(
        queryset=CenterOfExcellence.objects.order_by("name"), label="CoE", empty_label="Any CoE"
    )

    class Meta:
        model = TrainingProgram
        fields = ["q", "audience", "coe"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(provider__icontains=value)
            | Q(description__icontains=value)
        )


PROGRAM_SORTS = {
    "name": "name",
    "audience": "audience",
    "hours": "hours",
    "completions": "n_completions",
}


def _sorted(qs, request, allowed, default):
    raw = request.GET.get("sort") or default
    key = raw.lstrip("-")
    if key not in allowed:
        raw, key = default, default.lstrip("-")
    expr = F(allowed[key])
    expr = expr.desc(nulls_last=True) if raw.startswith("-") else expr.asc(nulls_last=True)
    return qs.order_by(expr, "pk")


@login_required
def training_list(request):
    user = request.user
    completions = TrainingCompletion.objects.visible_to(user)
    programs = TrainingProgram.objects.select_related("coe").annotate(
        n_completions=_count_visible(completions, "program")
    )
    f = ProgramFilter(request.GET, queryset=programs)
    page_obj = _paginate(request, _sorted(f.qs, request, PROGRAM_SORTS, "name"))
    total = completions.count()
    return render(
        request,
        "people/training_list.html",
        {"filter": f, "page_obj": page_obj, "total_completions": total},
    )


class CompletionFilter(django_filters.FilterSet):
    business_unit = django_filters.ModelChoiceFilter(
        queryset=lambda request: BusinessUnit.objects.visible_to(request.user).order_by("name"),
        label="Business unit",
        empty_label="Any unit",
    )
    completed_after = django_filters.DateFilter(
        field_name="completed_on",
        lookup_expr="gte",
        label="Completed on or after",
        widget=django_filters.widgets.forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = TrainingCompletion
        fields = ["business_unit", "completed_after"]


COMPLETION_SORTS = {
    "person": "user__last_name",
    "unit": "business_unit__name",
    "completed": "completed_on",
    "score": "score",
}


@login_required
def training_detail(request, pk: int):
    user = request.user
    program = get_object_or_404(TrainingProgram.objects.select_related("coe"), pk=pk)
    completions = (
        TrainingCompletion.objects.visible_to(user)
        .filter(program=program)
        .select_related("user", "business_unit")
    )
    f = CompletionFilter(request.GET, queryset=completions, request=request)
    page_obj = _paginate(request, _sorted(f.qs, request, COMPLETION_SORTS, "-completed"))
    by_unit = (
        f.qs.values("business_unit__name")
        .annotate(n=Count("pk"))
        .order_by("-n", "business_unit__name")[:12]
    )
    return render(
        request,
        "people/training_detail.html",
        {"program": program, "filter": f, "page_obj": page_obj, "by_unit": by_unit},
    )
