from __future__ import annotations

from rest_framework import serializers

from people.api.base import ScopedModelSerializer, ScopedPrimaryKeyRelatedField
from portfolio.models import (
    KPI,
    AdoptionSnapshot,
    Assignment,
    Initiative,
    Measurement,
    Objective,
    StageTransition,
)


class InitiativeListSerializer(serializers.ModelSerializer):
    class Meta:
        model = Initiative
        fields = [
            "id",
            "code",
            "name",
            "business_unit",
            "stage",
            "status",
            "risk_tier",
            "integration_depth",
            "last_activity_at",
            "updated_at",
        ]
        read_only_fields = fields


class InitiativeSerializer(ScopedModelSerializer):
    unit_from = None

    class Meta:
        model = Initiative
        fields = [
            "id",
            "code",
            "name",
            "business_unit",
            "summary",
            "problem",
            "objectives",
            "stage",
            "status",
            "stage_entered_at",
            "started_on",
            "build_or_buy",
            "integration_depth",
            "coe",
            "risk_tier",
            "uses_pii",
            "uses_demographics",
            "last_activity_at",
            "created_at",
            "updated_at",
        ]
        # The stage moves only through a gate decision (POST /stage-transitions/).
        read_only_fields = [
            "stage",
            "stage_entered_at",
            "last_activity_at",
            "created_at",
            "updated_at",
        ]


class AssignmentSerializer(ScopedModelSerializer):
    class Meta:
        model = Assignment
        fields = ["id", "initiative", "business_unit", "role", "user", "updated_at"]
        read_only_fields = ["business_unit", "updated_at"]


class ObjectiveSerializer(ScopedModelSerializer):
    unit_from = None

    class Meta:
        model = Objective
        fields = ["id", "code", "name", "description", "owner", "fiscal_year", "updated_at"]
        read_only_fields = ["updated_at"]


class StageTransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = StageTransition
        fields = [
            "id",
            "initiative",
            "business_unit",
            "from_stage",
            "to_stage",
            "decision",
            "rationale",
            "decided_by",
            "decided_at",
            "source",
            "sunk_cost",
            "salvaged",
            "lessons",
            "updated_at",
        ]
        read_only_fields = fields


class KPISerializer(ScopedModelSerializer):
    class Meta:
        model = KPI
        fields = [
            "id",
            "initiative",
            "business_unit",
            "name",
            "kind",
            "category",
            "unit",
            "direction",
            "baseline_value",
            "baseline_date",
            "target_value",
            "target_date",
            "cadence",
            "value_per_unit",
            "value_currency",
            "updated_at",
        ]
        read_only_fields = ["business_unit", "updated_at"]


class MeasurementSerializer(serializers.ModelSerializer):
    class Meta:
        model = Measurement
        fields = [
            "id",
            "kpi",
            "business_unit",
            "measured_on",
            "value",
            "note",
            "recorded_by",
            "updated_at",
        ]
        read_only_fields = fields


class MeasurementRecordSerializer(serializers.Serializer):
    """Record a KPI's value for a day; posting the same day again corrects it."""

    kpi = ScopedPrimaryKeyRelatedField(queryset=KPI.objects.all())
    measured_on = serializers.DateField()
    value = serializers.DecimalField(max_digits=18, decimal_places=4)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AdoptionSnapshotSerializer(ScopedModelSerializer):
    class Meta:
        model = AdoptionSnapshot
        fields = [
            "id",
            "initiative",
            "business_unit",
            "as_of",
            "eligible_users",
            "active_users",
            "satisfaction",
            "updated_at",
        ]
        read_only_fields = ["business_unit", "updated_at"]
