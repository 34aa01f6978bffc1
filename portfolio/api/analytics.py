"""``GET /api/v1/analytics/flow/``: the flow analytics page's figures (cohorts, conversion,
time in stage, graveyard totals), scoped like the page (``?unit=`` out of scope: 404)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from people.api.base import TokenReadOnlyPermission


class CohortSerializer(serializers.Serializer):
    quarter = serializers.DateField()
    label = serializers.CharField()
    unit_id = serializers.IntegerField(allow_null=True, help_text="null: every unit together")
    unit_name = serializers.CharField()
    started = serializers.IntegerField()
    reached_6 = serializers.IntegerField()
    reached_12 = serializers.IntegerField()
    reached_18 = serializers.IntegerField()
    share_6 = serializers.DecimalField(
        max_digits=6, decimal_places=4, allow_null=True, help_text="null: cohort too young"
    )
    share_12 = serializers.DecimalField(max_digits=6, decimal_places=4, allow_null=True)
    share_18 = serializers.DecimalField(max_digits=6, decimal_places=4, allow_null=True)
    killed = serializers.IntegerField()
    share_killed = serializers.DecimalField(max_digits=6, decimal_places=4, allow_null=True)
    in_pilot = serializers.IntegerField()
    share_in_pilot = serializers.DecimalField(max_digits=6, decimal_places=4, allow_null=True)


class StageTimeSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    completed = serializers.IntegerField()
    median_days = serializers.FloatField(allow_null=True)
    p90_days = serializers.FloatField(allow_null=True)
    ongoing = serializers.IntegerField()
    ongoing_median_days = serializers.FloatField(allow_null=True)


class FunnelStepSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    reached = serializers.IntegerField()
    conversion = serializers.DecimalField(max_digits=6, decimal_places=4, allow_null=True)


class GraveyardTotalSerializer(serializers.Serializer):
    business_unit_id = serializers.IntegerField()
    business_unit__name = serializers.CharField()
    year = serializers.IntegerField()
    kills = serializers.IntegerField()
    retirements = serializers.IntegerField()
    sunk = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    unconverted = serializers.IntegerField()


class FlowSerializer(serializers.Serializer):
    currency = serializers.CharField()
    pilot_conversion = serializers.DecimalField(max_digits=6, decimal_places=4, allow_null=True)
    median_days_in_pilot = serializers.FloatField(allow_null=True)
    cohorts = CohortSerializer(many=True)
    time_in_stage = StageTimeSerializer(many=True)
    funnel = FunnelStepSerializer(many=True)
    graveyard_totals = GraveyardTotalSerializer(many=True)


class FlowView(APIView):
    permission_classes = [permissions.IsAuthenticated, TokenReadOnlyPermission]

    @extend_schema(
        parameters=[
            OpenApiParameter("unit", int, description="A unit and its children"),
            OpenApiParameter("q", str, description="Full-text search of the graveyard"),
            OpenApiParameter("year", int, description="Graveyard year"),
        ],
        responses=FlowSerializer,
    )
    def get(self, request):
        from django.conf import settings

        from portfolio.views.flow import flow_query, flow_sections

        query = flow_query(request._request)
        s = flow_sections(request.user, query)
        data = {
            "currency": settings.REPORTING_CURRENCY,
            "pilot_conversion": s["funnel"][0]["conversion"],
            "median_days_in_pilot": s["time_in_stage"][0]["median_days"],
            "cohorts": s["cohorts"],
            "time_in_stage": s["time_in_stage"],
            "funnel": s["funnel"],
            "graveyard_totals": s["totals"],
        }
        return Response(FlowSerializer(data).data)


class ScorePartSerializer(serializers.Serializer):
    label = serializers.CharField()
    numerator = serializers.IntegerField()
    denominator = serializers.IntegerField()
    share = serializers.DecimalField(max_digits=6, decimal_places=4, allow_null=True)
    url = serializers.CharField()
    currency = serializers.CharField(
        help_text="Set when numerator and denominator are amounts (whole units of it)"
    )


class DimensionScoreSerializer(serializers.Serializer):
    dimension = serializers.CharField()
    label = serializers.CharField()
    score = serializers.IntegerField(allow_null=True, help_text="0-100; null: nothing to judge")
    parts = ScorePartSerializer(many=True)


class ScorecardSerializer(serializers.Serializer):
    unit_id = serializers.IntegerField()
    unit_name = serializers.CharField()
    dimensions = DimensionScoreSerializer(many=True)


class UnitScorecardView(APIView):
    """The unit's (and its children's) scaling scorecard: eight dimensions with their parts."""

    permission_classes = [permissions.IsAuthenticated, TokenReadOnlyPermission]

    @extend_schema(
        parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH, description="Unit id")],
        responses=ScorecardSerializer,
    )
    def get(self, request, pk: int):
        from django.shortcuts import get_object_or_404

        from people.models import BusinessUnit
        from portfolio.scorecard import scorecards

        unit = get_object_or_404(BusinessUnit.objects.visible_to(request.user), pk=pk)
        [card] = scorecards([unit.pk])
        return Response(ScorecardSerializer(card).data)


urlpatterns = [
    path("analytics/flow/", FlowView.as_view(), name="analytics-flow"),
    path(
        "business-units/<int:pk>/scorecard/",
        UnitScorecardView.as_view(),
        name="business-unit-scorecard",
    ),
]
