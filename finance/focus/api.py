"""FOCUS over the API: the lines (read, scoped: unit roles see their allocated lines, global
roles all) and ``POST /api/v1/focus-lines/import/`` (multipart ``file``, optional
``focus_version``), which runs the same job as the upload page and answers 202 with the
job to poll."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from finance.focus.models import FocusLine
from finance.focus.services import can_manage_focus
from finance.focus.spec import SUPPORTED_VERSIONS
from finance.focus.tasks import FOCUS_IMPORT, focus_import_task
from people.api.base import ReadOnlyScopedViewSet
from people.jobs import job_create, job_enqueue
from people.uploads import check_upload


class FocusLineSerializer(serializers.ModelSerializer):
    unallocated = serializers.BooleanField(read_only=True)

    class Meta:
        model = FocusLine
        fields = [
            "id",
            "provider",
            "billing_account_id",
            "billing_period_start",
            "charge_period_start",
            "charge_period_end",
            "charge_category",
            "charge_class",
            "charge_frequency",
            "billed_cost",
            "effective_cost",
            "billing_currency",
            "service_category",
            "service_name",
            "sub_account_id",
            "resource_id",
            "sku_id",
            "tags",
            "consumed_quantity",
            "consumed_unit",
            "ai_model",
            "token_type",
            "token_count",
            "initiative",
            "business_unit",
            "rule",
            "rule_version",
            "unallocated",
        ]
        read_only_fields = fields


class FocusImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField()
    focus_version = serializers.ChoiceField(
        choices=[""] + list(SUPPORTED_VERSIONS), required=False, allow_blank=True
    )

    def validate_file(self, value):
        try:
            check_upload(value)  # people.uploads: the same cap as the upload page
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


class FocusLineViewSet(ReadOnlyScopedViewSet):
    """Lines of imported FOCUS cloud bills. Unallocated lines are seen by global roles
    only. ``POST import/`` imports a file (finance only)."""

    queryset = FocusLine.objects.all()
    serializer_class = FocusLineSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = {
        "initiative": ["exact", "isnull"],
        "billing_account_id": ["exact"],
        "provider": ["exact"],
        "service_category": ["exact"],
        "charge_category": ["exact"],
        "charge_period_start": ["gte", "lt"],
    }
    ordering_fields = ["charge_period_start", "effective_cost", "id"]

    def can_write_any(self, user) -> bool:
        return can_manage_focus(user)

    @extend_schema(
        request={"multipart/form-data": FocusImportRequestSerializer},
        responses={
            202: inline_serializer(
                "FocusImportAccepted",
                {"job": serializers.IntegerField(), "status_url": serializers.CharField()},
            )
        },
        description="Import a FOCUS cost-and-usage file (CSV, gzip CSV or Parquet) in the "
        "background; poll the job. Its report lists rows and money added, removed and "
        "changed, or the errors (nothing written).",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_file(self, request):
        if not can_manage_focus(request.user):
            raise PermissionDenied("Only finance may import FOCUS bills.")
        serializer = FocusImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        name = upload.name.rsplit("/", 1)[-1]
        job = job_create(
            kind=FOCUS_IMPORT,
            requested_by=request.user,
            params={
                "filename": name,
                "focus_version": serializer.validated_data.get("focus_version", ""),
            },
        )
        job.input_file.save(name, upload, save=True)
        job_enqueue(job, focus_import_task)
        return Response(
            {"job": job.pk, "status_url": reverse("people:job_detail", args=[job.pk])},
            status=status.HTTP_202_ACCEPTED,
        )


def register(router) -> None:
    router.register("focus-lines", FocusLineViewSet, basename="focusline")
