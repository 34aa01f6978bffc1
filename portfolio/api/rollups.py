"""Dashboard numbers over the API. Each endpoint asks the app that owns the figures
(its selectors compute them in the database, scoped to the caller); nothing is
re-computed here. ``business_unit`` narrows to a unit and its children: a unit the
caller may not see is a 404."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from people.api.base import TokenReadOnlyPermission
from people.models import BusinessUnit
from portfolio import crossapp


class RollupQuerySerializer(serializers.Serializer):
    business_unit = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    fiscal_year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)


class StageCountSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class BudgetActualSerializer(serializers.Serializer):
    unit_id = serializers.IntegerField(allow_null=True)
    unit_name = serializers.CharField(allow_null=True)
    initiative_id = serializers.IntegerField(allow_null=True)
    initiative_code = serializers.CharField(allow_null=True)
    kind = serializers.CharField(allow_null=True)
    category = serializers.CharField(allow_null=True)
    month = serializers.DateField(allow_null=True)
    fiscal_year = serializers.IntegerField(allow_null=True)
    budget = serializers.DecimalField(max_digits=20, decimal_places=2)
    actual = serializers.DecimalField(max_digits=20, decimal_places=2)
    actual_one_time = serializers.DecimalField(max_digits=20, decimal_places=2)
    actual_operational = serializers.DecimalField(max_digits=20, decimal_places=2)
    variance = serializers.DecimalField(max_digits=20, decimal_places=2)
    run_rate = serializers.DecimalField(max_digits=20, decimal_places=2)
    forecast = serializers.DecimalField(max_digits=20, decimal_places=2)
    operational_share = serializers.DecimalField(max_digits=8, decimal_places=4, allow_null=True)
    missing_rates = serializers.ListField(child=serializers.CharField())
    currency = serializers.CharField()


class ValueSerializer(serializers.Serializer):
    key_id = serializers.IntegerField(help_text="Initiative or unit id")
    code = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    business_unit_id = serializers.IntegerField(allow_null=True)
    one_time_cost = serializers.DecimalField(max_digits=20, decimal_places=2)
    operational_cost = serializers.DecimalField(max_digits=20, decimal_places=2)
    total_cost = serializers.DecimalField(max_digits=20, decimal_places=2)
    realised_value = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    roi = serializers.DecimalField(max_digits=20, decimal_places=4, allow_null=True)
    payback_month = serializers.DateField(allow_null=True)
    missing_rates = serializers.ListField(child=serializers.CharField())
    currency = serializers.CharField()


class _Rollup(APIView):
    permission_classes = [permissions.IsAuthenticated, TokenReadOnlyPermission]

    def query(self, request) -> dict:
        serializer = RollupQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        unit_id = data.pop("business_unit", None)
        data["unit"] = (
            get_object_or_404(BusinessUnit.objects.visible_to(request.user), pk=unit_id)
            if unit_id
            else None
        )
        return data


_UNIT = OpenApiParameter("business_unit", int, description="A unit and its children")
_YEAR = OpenApiParameter("fiscal_year", int)


class StageFunnelView(_Rollup):
    @extend_schema(parameters=[_UNIT], responses=StageCountSerializer(many=True))
    def get(self, request):
        from portfolio.selectors import stage_funnel, unit_descendant_ids

        unit = self.query(request)["unit"]
        unit_ids = None
        if unit is not None:
            unit_ids = unit_descendant_ids(unit.pk)
        return Response(
            StageCountSerializer(stage_funnel(request.user, unit_ids=unit_ids), many=True).data
        )


class BudgetVsActualView(_Rollup):
    @extend_schema(
        parameters=[
            _UNIT,
            _YEAR,
            OpenApiParameter(
                "group_by",
                str,
                description="Comma-separated: unit, initiative, kind, category, month, fiscal_year",
            ),
        ],
        responses=BudgetActualSerializer(many=True),
    )
    def get(self, request):
        groups = crossapp.budget_groupings()
        query = self.query(request)
        raw = request.query_params.get("group_by", "unit")
        group_by = tuple(g.strip() for g in raw.split(",") if g.strip())
        unknown = set(group_by) - set(groups)
        if unknown:
            raise serializers.ValidationError(
                {
                    "group_by": f"Choose from {', '.join(groups)} (unknown: {', '.join(sorted(unknown))})."
                }
            )
        rows = crossapp.budget_vs_actual(
            request.user,
            group_by=group_by,
            fiscal_year=query.get("fiscal_year"),
            unit=query["unit"],
        )
        return Response(BudgetActualSerializer(rows, many=True).data)


class ValueView(_Rollup):
    @extend_schema(
        parameters=[
            _UNIT,
            OpenApiParameter("by", str, enum=["unit", "initiative"], description="Default: unit"),
        ],
        responses=ValueSerializer(many=True),
    )
    def get(self, request):
        query = self.query(request)
        by = request.query_params.get("by", "unit")
        if by not in ("unit", "initiative"):
            raise serializers.ValidationError({"by": "Choose unit or initiative."})
        selector = crossapp.unit_values if by == "unit" else crossapp.initiative_values
        rows = selector(request.user, unit=query["unit"])
        return Response(ValueSerializer(rows, many=True).data)


urlpatterns = [
    path("rollups/stage-funnel/", StageFunnelView.as_view(), name="rollup-stage-funnel"),
    path("rollups/budget-vs-actual/", BudgetVsActualView.as_view(), name="rollup-budget-vs-actual"),
    path("rollups/value/", ValueView.as_view(), name="rollup-value"),
]
