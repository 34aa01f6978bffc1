from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from people.api.base import ScopedModelSerializer, ScopedPrimaryKeyRelatedField
from portfolio import crossapp
from portfolio.models import (
    KPI,
    AdoptionSnapshot,
    Assignment,
    Initiative,
    Measurement,
    Objective,
    StageTransition,
)


class _StallAndValueFields(serializers.Serializer):
    """The one stall rule's fields (from ``InitiativeQuerySet.with_stall``, annotated by
    the viewset) and the honest value figures (``finance.selectors.initiative_value``,
    reporting currency), computed for a whole page in one query by the viewset."""

    last_activity_on = serializers.DateField(read_only=True, allow_null=True)
    stalled = serializers.BooleanField(read_only=True, default=False)
    days_in_stage = serializers.IntegerField(read_only=True, allow_null=True, default=None)
    value_to_date = serializers.SerializerMethodField()
    cost_to_date = serializers.SerializerMethodField()
    roi = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()

    def _value(self, obj):
        values = self.context.setdefault("values", {})
        if obj.pk not in values:
            request = self.context.get("request")
            for row in crossapp.initiative_values(request.user, initiative_ids=[obj.pk]):
                values[row.key_id] = row
        return values.get(obj.pk)

    @extend_schema_field(serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True))
    def get_value_to_date(self, obj):
        row = self._value(obj)
        return None if row is None or row.realised_value is None else str(row.realised_value)

    @extend_schema_field(serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True))
    def get_cost_to_date(self, obj):
        row = self._value(obj)
        return None if row is None else str(row.total_cost)

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True))
    def get_roi(self, obj):
        row = self._value(obj)
        return None if row is None or row.roi is None else str(row.roi)

    @extend_schema_field(serializers.CharField())
    def get_currency(self, obj) -> str:
        return settings.REPORTING_CURRENCY


STALL_AND_VALUE_FIELDS = [
    "last_activity_on",
    "stalled",
    "days_in_stage",
    "value_to_date",
    "cost_to_date",
    "roi",
    "currency",
]


class InitiativeListSerializer(_StallAndValueFields, serializers.ModelSerializer):
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
            *STALL_AND_VALUE_FIELDS,
            "updated_at",
        ]
        read_only_fields = fields


class InitiativeSerializer(_StallAndValueFields, ScopedModelSerializer):
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
            "stage_date_known",
            "started_on",
            "build_or_buy",
            "integration_depth",
            "coe",
            "risk_tier",
            "uses_pii",
            "uses_demographics",
            *STALL_AND_VALUE_FIELDS,
            "created_at",
            "updated_at",
        ]
        # The stage moves only through a gate decision (POST /stage-transitions/); the
        # risk tier comes only from the current risk assessment (POST /risk-assessments/).
        read_only_fields = [
            "stage",
            "risk_tier",
            "stage_entered_at",
            "stage_date_known",
            *STALL_AND_VALUE_FIELDS,
            "created_at",
            "updated_at",
        ]


class AssignmentSerializer(ScopedModelSerializer):
    class Meta:
        model = Assignment
        fields = ["id", "initiative", "business_unit", "role", "user", "updated_at"]
        read_only_fields = ["business_unit", "updated_at"]

    def validate(self, attrs):
        from portfolio.services import owner_problem

        initiative = attrs.get("initiative", getattr(self.instance, "initiative", None))
        user = attrs.get("user", getattr(self.instance, "user", None))
        if initiative is not None and user is not None:
            problem = owner_problem(initiative, user)
            if problem:
                raise serializers.ValidationError({"user": problem})
        return super().validate(attrs)


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
