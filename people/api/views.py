"""The organisation, read-only: units, centres of excellence, memberships. Membership
changes go through access management (reviews), never through plain CRUD."""

from __future__ import annotations

from people.api.base import ReadOnlyScopedViewSet
from people.api.serializers import (
    BusinessUnitSerializer,
    CenterOfExcellenceSerializer,
    UnitMembershipSerializer,
)
from people.models import BusinessUnit, CenterOfExcellence, UnitMembership


class BusinessUnitViewSet(ReadOnlyScopedViewSet):
    queryset = BusinessUnit.objects.all()
    serializer_class = BusinessUnitSerializer
    filterset_fields = ["parent", "code"]
    ordering_fields = ["name", "code", "id"]


class CenterOfExcellenceViewSet(ReadOnlyScopedViewSet):
    """Organisation-wide: every signed-in user sees every centre of excellence."""

    queryset = CenterOfExcellence.objects.all()
    serializer_class = CenterOfExcellenceSerializer
    ordering_fields = ["name", "id"]

    def get_queryset(self):
        return self.base_queryset()


class UnitMembershipViewSet(ReadOnlyScopedViewSet):
    queryset = UnitMembership.objects.select_related("user")
    serializer_class = UnitMembershipSerializer
    filterset_fields = ["business_unit", "user", "role"]
    ordering_fields = ["id", "role"]


def register(router) -> None:
    router.register("business-units", BusinessUnitViewSet, basename="businessunit")
    router.register("centres-of-excellence", CenterOfExcellenceViewSet, basename="coe")
    router.register("memberships", UnitMembershipViewSet, basename="membership")
