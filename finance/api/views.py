"""Budgets (request, approve, reject) and spend (bulk, idempotent on ``reference``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from finance.api.serializers import (
    BudgetDecisionSerializer,
    BudgetRequestSerializer,
    BudgetSerializer,
    SpendBulkEnvelopeSerializer,
    SpendBulkResultSerializer,
    SpendBulkSerializer,
    SpendEntrySerializer,
)
from finance.models import Budget, SpendEntry
from finance.services import budget_approve, budget_reject, budget_request
from people.api.base import ReadOnlyScopedViewSet, ScopedViewSet
from people.scoping import has_global, unit_ids_for


@extend_schema_view(
    create=extend_schema(request=BudgetRequestSerializer, responses={201: BudgetSerializer})
)
class BudgetViewSet(ScopedViewSet):
    """Budget lines. POST requests one; finance approves or rejects it (never the
    requester: separation of duties)."""

    queryset = Budget.objects.all()
    serializer_class = BudgetSerializer
    create_serializer_class = BudgetRequestSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = ["initiative", "business_unit", "fiscal_year", "kind", "category", "status"]
    ordering_fields = ["fiscal_year", "amount", "requested_at", "id"]

    def can_write_any(self, user) -> bool:
        return has_global(user, "finance.add_budget") or bool(unit_ids_for(user, "change"))

    def perform_create(self, serializer):
        return budget_request(acting_user=self.request.user, **serializer.validated_data)

    def _decide(self, request, service):
        budget = self.get_object()
        serializer = BudgetDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            budget = service(
                acting_user=request.user, budget=budget, note=serializer.validated_data["note"]
            )
        return self.render_one(self.get_queryset().get(pk=budget.pk))

    @extend_schema(request=BudgetDecisionSerializer, responses={200: BudgetSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, budget_approve)

    @extend_schema(request=BudgetDecisionSerializer, responses={200: BudgetSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, budget_reject)


class SpendEntryViewSet(ReadOnlyScopedViewSet):
    """Postings. Machines push them with POST /spend-entries/bulk/: idempotent on
    (source, reference), so a re-sent batch changes nothing."""

    queryset = SpendEntry.objects.all()
    serializer_class = SpendEntrySerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = {
        "initiative": ["exact"],
        "business_unit": ["exact"],
        "kind": ["exact"],
        "category": ["exact"],
        "source": ["exact"],
        "reference": ["exact"],
        "posted_on": ["gte", "lte"],
    }
    ordering_fields = ["posted_on", "amount", "id"]

    def can_write_any(self, user) -> bool:
        return has_global(user, "finance.add_spendentry") or bool(unit_ids_for(user, "change"))

    @extend_schema(
        request=SpendBulkSerializer,
        responses={200: SpendBulkResultSerializer},
        description="Create or update up to 5,000 postings at once, all or nothing. "
        "A posting is identified by (source, reference): sending it again is a no-op, "
        "sending it changed updates it. Bad rows are reported as `rows.<index>.<field>`.",
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        if not self.can_write_any(request.user):
            raise PermissionDenied("You may not record spend.")
        serializer = SpendBulkEnvelopeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        from finance.services import spend_entries_upsert

        try:
            result = spend_entries_upsert(
                acting_user=request.user,
                source=serializer.validated_data["source"],
                rows=serializer.validated_data["rows"],
            )
        except DjangoValidationError as exc:
            raise ValidationError(_row_errors(exc)) from exc
        return Response(SpendBulkResultSerializer(result).data)


def _row_errors(exc: DjangoValidationError):
    """The service's "Row 3, amount: ..." errors as ``{"rows.2.amount": [...]}`` (rows
    indexed from 0, like the request's list); other errors pass through."""
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    fields: dict[str, list[str]] = {}
    for error in exc.error_list:
        params = error.params or {}
        if "row" in params and "column" in params:
            column = ROW_COLUMN_TO_FIELD.get(params["column"], params["column"])
            key = f"rows.{int(params['row']) - 1}.{column}"
            fields.setdefault(key, []).append(str(params.get("reason", error.message)))
        else:
            fields.setdefault("non_field_errors", []).extend(error.messages)
    return fields


ROW_COLUMN_TO_FIELD = {"date": "posted_on"}


def register(router) -> None:
    router.register("budgets", BudgetViewSet, basename="budget")
    router.register("spend-entries", SpendEntryViewSet, basename="spendentry")
    from finance.focus.api import register as register_focus

    register_focus(router)
