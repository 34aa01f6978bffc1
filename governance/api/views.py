"""Governance records, model version promotion, access reviews and the audit log."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import pagination, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from governance.api.serializers import (
    AccessReviewDecisionSerializer,
    AccessReviewItemSerializer,
    AccessReviewSerializer,
    AISystemSerializer,
    AuditEventSerializer,
    ControlAttestationSerializer,
    ControlSerializer,
    FairnessAuditSerializer,
    GateReviewRequestSerializer,
    GateReviewSerializer,
    IncidentAcknowledgeSerializer,
    IncidentProgressSerializer,
    IncidentReportSerializer,
    IncidentSerializer,
    ModelRollbackDecisionSerializer,
    ModelRollbackRequestSerializer,
    ModelRollbackSerializer,
    ModelVersionListSerializer,
    ModelVersionSerializer,
    RiskAssessmentRecordSerializer,
    RiskAssessmentSerializer,
    StageDecisionSerializer,
    WaiverProposeSerializer,
    WaiverRegisterSerializer,
)
from governance.models import (
    AccessReview,
    AccessReviewItem,
    AISystem,
    Control,
    ControlAttestation,
    FairnessAudit,
    GateReview,
    Incident,
    ModelRollback,
    ModelVersion,
    RiskAssessment,
    Waiver,
)
from governance.services import (
    access_review_decide,
    gate_decide,
    gate_review_request,
    incident_acknowledge,
    incident_report,
    incident_update,
    model_rollback_decide,
    model_rollback_request,
    model_version_promote,
    risk_assessment_record,
    version_in_production,
    waiver_cosign,
    waiver_propose,
)
from people.api.base import (
    ReadOnlyScopedViewSet,
    ScopedViewSet,
    TokenReadOnlyPermission,
)
from people.scoping import has_global, unit_ids_for
from portfolio.api.serializers import StageTransitionSerializer
from portfolio.models import StageTransition


class AISystemViewSet(ScopedViewSet):
    queryset = AISystem.objects.all()
    serializer_class = AISystemSerializer
    filterset_fields = ["initiative", "business_unit", "owner"]
    ordering_fields = ["name", "id", "updated_at"]


class ModelVersionViewSet(ScopedViewSet):
    """ML platforms register versions here; someone other than the creator promotes one
    to production (the version in production before it is retired)."""

    queryset = ModelVersion.objects.all()
    serializer_class = ModelVersionSerializer
    list_serializer_class = ModelVersionListSerializer
    filterset_fields = ["ai_system", "business_unit", "status", "version"]
    ordering_fields = ["id", "version", "deployed_at", "updated_at"]

    def base_queryset(self):
        queryset = super().base_queryset()
        if self.action != "list":
            queryset = queryset.prefetch_related("datasets")
        return queryset

    @extend_schema(
        parameters=[
            OpenApiParameter("ai_system", OpenApiTypes.INT, required=True),
            OpenApiParameter("on", OpenApiTypes.DATE, description="the end of this day"),
            OpenApiParameter("at", OpenApiTypes.DATETIME, description="or this moment"),
        ],
        responses={200: ModelVersionSerializer},
    )
    @action(detail=False, methods=["get"], url_path="in-production")
    def in_production(self, request):
        """Which version of an AI system was in production on a day (or at a moment),
        roll backs included. 404 when none was."""
        from django.utils.dateparse import parse_date, parse_datetime

        system = AISystem.objects.visible_to(request.user).filter(
            pk=request.query_params.get("ai_system") or 0
        )
        if not (request.query_params.get("ai_system") or "").isdigit() or not system.exists():
            raise NotFound("No such AI system.")
        raw_at, raw_on = request.query_params.get("at"), request.query_params.get("on")
        when = parse_datetime(raw_at) if raw_at else (parse_date(raw_on) if raw_on else None)
        if when is None:
            raise ValidationError({"on": "Give a date (on=YYYY-MM-DD) or a moment (at=...)."})
        if hasattr(when, "tzinfo") and hasattr(when, "hour") and when.tzinfo is None:
            from django.utils import timezone

            when = timezone.make_aware(when)
        version = version_in_production(ai_system=system.get(), at=when)
        if version is None:
            raise NotFound("No version of this system was in production then.")
        return self.render_one(self.get_queryset().get(pk=version.pk))

    @extend_schema(request=None, responses={200: ModelVersionSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        version = model_version_promote(acting_user=request.user, model_version=self.get_object())
        return self.render_one(self.get_queryset().get(pk=version.pk))


@extend_schema_view(
    create=extend_schema(
        request=RiskAssessmentRecordSerializer, responses={201: RiskAssessmentSerializer}
    )
)
class RiskAssessmentViewSet(ScopedViewSet):
    """Assessments are a history: POST records a new current one (the earlier one is
    superseded and the initiative takes the tier); they are not edited in place."""

    queryset = RiskAssessment.objects.all()
    serializer_class = RiskAssessmentSerializer
    create_serializer_class = RiskAssessmentRecordSerializer
    http_method_names = ["get", "post", "head", "options"]

    def perform_create(self, serializer):
        return risk_assessment_record(acting_user=self.request.user, **serializer.validated_data)

    filterset_fields = {
        "initiative": ["exact"],
        "business_unit": ["exact"],
        "eu_tier": ["exact"],
        "status": ["exact"],
        "next_review_due": ["lte", "gte"],
    }
    ordering_fields = ["assessed_on", "next_review_due", "id"]


class ControlAttestationViewSet(ScopedViewSet):
    queryset = ControlAttestation.objects.all()
    serializer_class = ControlAttestationSerializer
    filterset_fields = {
        "initiative": ["exact"],
        "business_unit": ["exact"],
        "control": ["exact"],
        "status": ["exact"],
        "expires_on": ["lte", "gte"],
    }
    ordering_fields = ["expires_on", "id"]


class FairnessAuditViewSet(ScopedViewSet):
    queryset = FairnessAudit.objects.select_related("model_version__ai_system")
    serializer_class = FairnessAuditSerializer
    filterset_fields = ["initiative", "business_unit", "model_version", "result"]
    ordering_fields = ["audited_on", "id"]


@extend_schema_view(
    create=extend_schema(request=IncidentReportSerializer, responses={201: IncidentSerializer})
)
class IncidentViewSet(ScopedViewSet):
    """POST reports an incident (a severe one on a production initiative reopens its risk
    assessment and opens a gate review); its progress is recorded in the UI."""

    queryset = Incident.objects.all()
    serializer_class = IncidentSerializer
    create_serializer_class = IncidentReportSerializer
    http_method_names = ["get", "post", "head", "options"]

    def perform_create(self, serializer):
        return incident_report(acting_user=self.request.user, **serializer.validated_data)

    @extend_schema(request=IncidentAcknowledgeSerializer, responses={200: IncidentSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Take a severe incident: its escalation stops."""
        incident = self.get_object()
        serializer = IncidentAcknowledgeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = incident_acknowledge(
            acting_user=request.user, incident=incident, **serializer.validated_data
        )
        return self.render_one(self.get_queryset().get(pk=incident.pk))

    @extend_schema(request=IncidentProgressSerializer, responses={200: IncidentSerializer})
    @action(detail=True, methods=["post"])
    def progress(self, request, pk=None):
        incident = self.get_object()
        serializer = IncidentProgressSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = incident_update(
            acting_user=request.user, incident=incident, **serializer.validated_data
        )
        return self.render_one(self.get_queryset().get(pk=incident.pk))

    filterset_fields = {
        "initiative": ["exact"],
        "business_unit": ["exact"],
        "severity": ["exact"],
        "status": ["exact"],
        "detected_at": ["gte", "lte"],
    }
    ordering_fields = ["detected_at", "severity", "id"]


@extend_schema_view(
    create=extend_schema(request=GateReviewRequestSerializer, responses={201: GateReviewSerializer})
)
class GateReviewViewSet(ScopedViewSet):
    """A team asks to pass its next gate (POST); the decision is POST /stage-transitions/."""

    queryset = GateReview.objects.all()
    serializer_class = GateReviewSerializer
    create_serializer_class = GateReviewRequestSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = ["initiative", "business_unit", "status", "target_stage"]
    ordering_fields = ["requested_at", "id"]

    def perform_create(self, serializer):
        return gate_review_request(acting_user=self.request.user, **serializer.validated_data)


@extend_schema_view(
    create=extend_schema(
        request=StageDecisionSerializer, responses={201: StageTransitionSerializer}
    )
)
class StageTransitionViewSet(ScopedViewSet):
    """The gate decisions, append-only. POST decides the initiative's open gate review
    (``governance.services.gate_decide``: criteria met or waived, separation of duties)
    and moves the stage; request the review first with POST /gate-reviews/."""

    queryset = StageTransition.objects.all()
    serializer_class = StageTransitionSerializer
    create_serializer_class = StageDecisionSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = ["initiative", "business_unit", "decision", "to_stage"]
    ordering_fields = ["decided_at", "id"]

    def can_write_any(self, user) -> bool:
        return has_global(user, "portfolio.decide_gate") or bool(unit_ids_for(user, "manage"))

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        initiative = data.pop("initiative")
        review = GateReview.objects.filter(
            initiative=initiative, status=GateReview.Status.OPEN
        ).first()
        if review is None:
            raise ValidationError(
                {"initiative": "This initiative has no open gate review; request one first."}
            )
        review = gate_decide(acting_user=self.request.user, review=review, **data)
        return review.transition


@extend_schema_view(
    create=extend_schema(request=WaiverProposeSerializer, responses={201: WaiverRegisterSerializer})
)
class WaiverViewSet(ScopedViewSet):
    """The waivers register: owner, reason, expiry, co-signature, lapse. POST proposes a
    waiver on an open gate review; POST /{id}/cosign/ is PMO's or a CoE's co-signature
    (needed for a mandatory criterion of a high-risk initiative)."""

    queryset = Waiver.objects.all()
    serializer_class = WaiverRegisterSerializer
    create_serializer_class = WaiverProposeSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = {
        "initiative": ["exact"],
        "business_unit": ["exact"],
        "review": ["exact"],
        "expires_on": ["lte", "gte"],
    }
    ordering_fields = ["expires_on", "id"]

    def perform_create(self, serializer):
        return waiver_propose(acting_user=self.request.user, **serializer.validated_data)

    @extend_schema(request=None, responses={200: WaiverRegisterSerializer})
    @action(detail=True, methods=["post"])
    def cosign(self, request, pk=None):
        waiver = waiver_cosign(acting_user=request.user, waiver=self.get_object())
        return self.render_one(self.get_queryset().get(pk=waiver.pk))


@extend_schema_view(
    create=extend_schema(
        request=ModelRollbackRequestSerializer, responses={201: ModelRollbackSerializer}
    )
)
class ModelRollbackViewSet(ScopedViewSet):
    """Roll backs of an AI system to an earlier version: POST asks (with a reason);
    someone other than the requester approves or rejects."""

    queryset = ModelRollback.objects.all()
    serializer_class = ModelRollbackSerializer
    create_serializer_class = ModelRollbackRequestSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = ["ai_system", "business_unit", "status"]
    ordering_fields = ["requested_at", "id"]

    def can_write_any(self, user) -> bool:
        return has_global(user, "governance.approve_modelversion") or bool(
            unit_ids_for(user, "change")
        )

    def perform_create(self, serializer):
        return model_rollback_request(acting_user=self.request.user, **serializer.validated_data)

    @extend_schema(
        request=ModelRollbackDecisionSerializer, responses={200: ModelRollbackSerializer}
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, approve=True)

    @extend_schema(
        request=ModelRollbackDecisionSerializer, responses={200: ModelRollbackSerializer}
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, approve=False)

    def _decide(self, request, *, approve: bool):
        rollback = self.get_object()
        serializer = ModelRollbackDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rollback = model_rollback_decide(
            acting_user=request.user,
            rollback=rollback,
            approve=approve,
            **serializer.validated_data,
        )
        return self.render_one(self.get_queryset().get(pk=rollback.pk))


class AccessReviewViewSet(ReadOnlyScopedViewSet):
    """Access review campaigns (opened in the UI); their items are decided below."""

    queryset = AccessReview.objects.all()
    serializer_class = AccessReviewSerializer
    filterset_fields = ["business_unit", "status", "reviewer"]
    ordering_fields = ["opened_on", "due_on", "id"]


class AccessReviewItemViewSet(ReadOnlyScopedViewSet):
    queryset = AccessReviewItem.objects.all()
    serializer_class = AccessReviewItemSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = ["review", "business_unit", "user", "decision"]
    ordering_fields = ["id"]

    @extend_schema(
        request=AccessReviewDecisionSerializer, responses={200: AccessReviewItemSerializer}
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        item = self.get_object()
        serializer = AccessReviewDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = access_review_decide(
            acting_user=request.user, item=item, **serializer.validated_data
        )
        return self.render_one(self.get_queryset().get(pk=item.pk))


class ControlViewSet(ReadOnlyScopedViewSet):
    """The controls initiatives attest (organisation-wide, owned by PMO and CoEs)."""

    queryset = Control.objects.all()
    serializer_class = ControlSerializer
    filterset_fields = ["code", "applies_from_stage"]
    ordering_fields = ["code", "id"]

    def get_queryset(self):
        return self.base_queryset()


class AuditEventPagination(pagination.BasePagination):
    """Keyset pages over the trail (``cursor``), newest first, with a capped ``count``:
    no page sorts or counts the whole trail."""

    default_limit, max_limit, count_cap = 50, 500, 1000

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_capped", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "description": "At most count_cap + 1."},
                "count_capped": {"type": "boolean", "description": "More events match."},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "The `next` or `previous` link's cursor.",
                "schema": {"type": "string"},
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Events per page (at most {self.max_limit}).",
                "schema": {"type": "integer"},
            },
        ]


@extend_schema(
    parameters=[
        OpenApiParameter(
            "model",
            OpenApiTypes.STR,
            description="An audited model, e.g. governance.ModelVersion (or its event "
            "model, governance.ModelVersionEvent)",
        ),
        OpenApiParameter("object_id", OpenApiTypes.INT, description="The record's id"),
        OpenApiParameter("user", OpenApiTypes.INT, description="The acting user's id"),
    ]
)
class AuditEventViewSet(viewsets.GenericViewSet):
    """The append-only audit trail, newest first. Each event is listed to whoever may
    read its model in the unit it belongs to (the rule of ``visible_to``): PMO and
    auditors read all of it, a unit lead their units' events, finance no incidents and
    CoE no spend."""

    serializer_class = AuditEventSerializer
    pagination_class = AuditEventPagination
    permission_classes = [permissions.IsAuthenticated, TokenReadOnlyPermission]
    filter_backends: list = []
    http_method_names = ["get", "head", "options"]
    queryset = None

    def list(self, request, *args, **kwargs):
        from governance.audit import AuditLog, Cursor, find_event_model

        params = request.query_params
        errors = {}
        model = params.get("model") or None
        if model and find_event_model(model) is None:
            errors["model"] = [f"No audited model {model!r}; e.g. governance.ModelVersion."]
        object_id = params.get("object_id") or None
        if object_id and not (object_id.isdigit() and len(object_id) < 19):
            errors["object_id"] = ["A record id is a whole number."]
        user_id = params.get("user") or None
        if user_id and not (user_id.isdigit() and len(user_id) < 12):
            errors["user"] = ["A user id is a whole number."]
        paging = self.pagination_class
        limit = params.get("limit") or str(paging.default_limit)
        if not limit.isdigit() or int(limit) < 1:
            errors["limit"] = ["A positive whole number."]
        cursor = after = before = None
        if params.get("cursor"):
            direction, _, raw = params["cursor"].partition(".")
            try:
                cursor = Cursor.decode(raw)
            except ValueError:
                direction = ""
            if direction not in ("n", "p"):
                errors["cursor"] = ["Not a cursor from a next or previous link."]
            elif direction == "n":
                after = cursor
            else:
                before = cursor
        if errors:
            raise ValidationError(errors)
        log = AuditLog(
            viewer=request.user,
            event_model=model,
            user_id=int(user_id) if user_id else None,
            object_id=object_id,
        )
        page = log.page(limit=min(int(limit), paging.max_limit), after=after, before=before)
        count = log.count(cap=paging.count_cap)

        def link(direction, position):
            if position is None:
                return None
            return replace_query_param(
                request.build_absolute_uri(), "cursor", f"{direction}.{position.encode()}"
            )

        return Response(
            {
                "count": count,
                "count_capped": count > paging.count_cap,
                "next": link("n", page.next),
                "previous": link("p", page.previous),
                "results": self.get_serializer(page.events, many=True).data,
            }
        )


def register(router) -> None:
    router.register("ai-systems", AISystemViewSet, basename="aisystem")
    router.register("model-versions", ModelVersionViewSet, basename="modelversion")
    router.register("risk-assessments", RiskAssessmentViewSet, basename="riskassessment")
    router.register("attestations", ControlAttestationViewSet, basename="attestation")
    router.register("fairness-audits", FairnessAuditViewSet, basename="fairnessaudit")
    router.register("incidents", IncidentViewSet, basename="incident")
    router.register("gate-reviews", GateReviewViewSet, basename="gatereview")
    router.register("stage-transitions", StageTransitionViewSet, basename="stagetransition")
    router.register("access-reviews", AccessReviewViewSet, basename="accessreview")
    router.register("access-review-items", AccessReviewItemViewSet, basename="accessreviewitem")
    router.register("controls", ControlViewSet, basename="control")
    router.register("waivers", WaiverViewSet, basename="waiver")
    router.register("model-rollbacks", ModelRollbackViewSet, basename="modelrollback")
    router.register("audit-events", AuditEventViewSet, basename="auditevent")
