"""Initiatives and everything that hangs off them, through the same scoping and services
as the UI."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.exceptions import ValidationError

from people.api.base import ScopedViewSet
from people.scoping import has_global
from portfolio import crossapp
from portfolio.api.serializers import (
    AdoptionSnapshotSerializer,
    AssignmentSerializer,
    InitiativeListSerializer,
    InitiativeSerializer,
    KPISerializer,
    MeasurementRecordSerializer,
    MeasurementSerializer,
    ObjectiveSerializer,
)
from portfolio.models import (
    KPI,
    AdoptionSnapshot,
    Assignment,
    Initiative,
    Measurement,
    Objective,
)
from portfolio.services import initiative_move, measurement_record


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "stalled",
                bool,
                description="Only stalled (true) or not stalled (false) initiatives, by the "
                "one stall rule the pages use.",
            )
        ]
    )
)
class InitiativeViewSet(ScopedViewSet):
    queryset = Initiative.objects.all()
    serializer_class = InitiativeSerializer
    list_serializer_class = InitiativeListSerializer
    filterset_fields = {
        "business_unit": ["exact"],
        "stage": ["exact", "in"],
        "status": ["exact"],
        "risk_tier": ["exact"],
        "code": ["exact"],
        "updated_at": ["gte", "lte"],
    }
    ordering_fields = [
        "code",
        "name",
        "stage_entered_at",
        "last_activity_on",
        "days_in_stage",
        "updated_at",
        "id",
    ]

    def base_queryset(self):
        queryset = super().base_queryset().with_stall()
        if self.action != "list":
            queryset = queryset.prefetch_related("objectives")
        return queryset

    def get_queryset(self):
        queryset = super().get_queryset()
        stalled = self.request.query_params.get("stalled")
        if stalled is not None:
            if stalled.lower() not in ("true", "false", "1", "0"):
                raise ValidationError({"stalled": "Use true or false."})
            queryset = queryset.filter(stalled=stalled.lower() in ("true", "1"))
        return queryset

    def paginate_queryset(self, queryset):
        """Value, cost and ROI of the whole page in one query (not one per row)."""
        page = super().paginate_queryset(queryset)
        rows = page if page is not None else list(queryset)
        if rows:
            self._values = {
                r.key_id: r
                for r in crossapp.initiative_values(
                    self.request.user, initiative_ids=[i.pk for i in rows]
                )
            }
        return page

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["values"] = getattr(self, "_values", {})
        return context

    def perform_update(self, serializer):
        """A new ``business_unit`` is a move: every dependent row goes with it, or the
        request is refused (403) when the user may not move it there."""
        target = serializer.validated_data.pop("business_unit", None)
        initiative = serializer.save()
        if target is not None and target.pk != initiative.business_unit_id:
            initiative_move(
                acting_user=self.request.user, initiative=initiative, business_unit=target
            )


class AssignmentViewSet(ScopedViewSet):
    """The initiative's accountable owners, one person per role."""

    queryset = Assignment.objects.all()
    serializer_class = AssignmentSerializer
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    filterset_fields = ["initiative", "business_unit", "role", "user"]
    ordering_fields = ["id", "role", "updated_at"]


class ObjectiveViewSet(ScopedViewSet):
    """Organisation-wide objectives: everyone reads, the PMO writes."""

    queryset = Objective.objects.all()
    serializer_class = ObjectiveSerializer
    filterset_fields = ["fiscal_year", "code"]
    ordering_fields = ["code", "name", "id"]

    def get_queryset(self):
        return self.base_queryset()

    def editable_queryset(self):
        if has_global(self.request.user, "portfolio.change_objective"):
            return Objective.objects.all()
        return Objective.objects.none()

    def can_write_any(self, user) -> bool:
        return has_global(user, "portfolio.add_objective")


class KPIViewSet(ScopedViewSet):
    queryset = KPI.objects.all()
    serializer_class = KPISerializer
    filterset_fields = ["initiative", "business_unit", "kind", "category"]
    ordering_fields = ["name", "id", "updated_at"]


@extend_schema_view(
    create=extend_schema(
        request=MeasurementRecordSerializer, responses={201: MeasurementSerializer}
    )
)
class MeasurementViewSet(ScopedViewSet):
    """KPI values. POST records a day's value, or corrects it if the day is recorded."""

    queryset = Measurement.objects.all()
    serializer_class = MeasurementSerializer
    create_serializer_class = MeasurementRecordSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = {
        "kpi": ["exact"],
        "business_unit": ["exact"],
        "measured_on": ["exact", "gte", "lte"],
    }
    ordering_fields = ["measured_on", "id"]

    def perform_create(self, serializer):
        return measurement_record(acting_user=self.request.user, **serializer.validated_data)


class AdoptionSnapshotViewSet(ScopedViewSet):
    queryset = AdoptionSnapshot.objects.all()
    serializer_class = AdoptionSnapshotSerializer
    filterset_fields = {
        "initiative": ["exact"],
        "business_unit": ["exact"],
        "as_of": ["exact", "gte", "lte"],
    }
    ordering_fields = ["as_of", "id"]


def register(router) -> None:
    router.register("initiatives", InitiativeViewSet, basename="initiative")
    router.register("assignments", AssignmentViewSet, basename="assignment")
    router.register("objectives", ObjectiveViewSet, basename="objective")
    router.register("kpis", KPIViewSet, basename="kpi")
    router.register("measurements", MeasurementViewSet, basename="measurement")
    router.register("adoption-snapshots", AdoptionSnapshotViewSet, basename="adoptionsnapshot")
