from django.contrib import admin

from governance import models
from people.admin import ScopedAdmin


@admin.register(models.AISystem)
class AISystemAdmin(ScopedAdmin):
    list_display = ["name", "initiative", "owner", "vendor"]
    list_select_related = ["initiative", "owner"]
    exclude = ["business_unit"]


@admin.register(models.Dataset)
class DatasetAdmin(ScopedAdmin):
    list_display = ["name", "initiative", "contains_pii", "contains_demographics"]
    list_select_related = ["initiative"]


@admin.register(models.ModelVersion)
class ModelVersionAdmin(ScopedAdmin):
    list_display = ["ai_system", "version", "status", "created_by", "approved_by", "deployed_at"]
    list_filter = ["status"]
    list_select_related = ["ai_system", "created_by", "approved_by"]
    exclude = ["business_unit"]
    # Promotion goes through the model-version service (separation of duties).
    readonly_fields = ["status", "approved_by", "deployed_at"]


@admin.register(models.RiskAssessment)
class RiskAssessmentAdmin(ScopedAdmin):
    list_display = ["initiative", "eu_tier", "us_high_impact", "status", "next_review_due"]
    list_filter = ["eu_tier", "status", "us_high_impact"]
    list_select_related = ["initiative"]
    exclude = ["business_unit"]


@admin.register(models.Standard)
class StandardAdmin(ScopedAdmin):
    list_display = [
        "code",
        "name",
        "dimension",
        "target_stage",
        "mandatory",
        "check_rule",
        "active",
    ]
    list_filter = ["dimension", "target_stage", "mandatory", "active"]


@admin.register(models.Control)
class ControlAdmin(ScopedAdmin):
    list_display = ["code", "name", "applies_from_stage", "validity_days"]


@admin.register(models.ControlAttestation)
class ControlAttestationAdmin(ScopedAdmin):
    list_display = ["initiative", "control", "status", "attested_by", "expires_on"]
    list_filter = ["status", "control"]
    list_select_related = ["initiative", "control", "attested_by"]
    exclude = ["business_unit"]


@admin.register(models.FairnessAudit)
class FairnessAuditAdmin(ScopedAdmin):
    list_display = ["initiative", "result", "audited_on", "remediation_due"]
    list_filter = ["result"]
    list_select_related = ["initiative"]
    exclude = ["business_unit"]


@admin.register(models.ExplainabilityRecord)
class ExplainabilityRecordAdmin(ScopedAdmin):
    list_display = ["initiative", "updated_at"]
    list_select_related = ["initiative"]
    exclude = ["business_unit"]


@admin.register(models.Incident)
class IncidentAdmin(ScopedAdmin):
    list_display = ["title", "initiative", "severity", "status", "detected_at", "review_due"]
    list_filter = ["severity", "status"]
    list_select_related = ["initiative"]
    exclude = ["business_unit"]


class AccessReviewItemInline(admin.TabularInline):
    model = models.AccessReviewItem
    extra = 0
    fields = ["user", "role", "decision", "decided_by", "decided_at", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.AccessReview)
class AccessReviewAdmin(ScopedAdmin):
    list_display = ["name", "business_unit", "reviewer", "status", "opened_on", "due_on"]
    list_select_related = ["business_unit", "reviewer"]
    inlines = [AccessReviewItemInline]


@admin.register(models.AccessReviewItem)
class AccessReviewItemAdmin(ScopedAdmin):
    list_display = ["review", "user", "role", "decision", "decided_by"]
    list_select_related = ["review", "user", "decided_by"]
    readonly_fields = ["decision", "decided_by", "decided_at"]
    exclude = ["business_unit"]


class GateCriterionResultInline(admin.TabularInline):
    model = models.GateCriterionResult
    extra = 0
    fields = ["code", "name", "mandatory", "met", "detail", "evidence"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class WaiverInline(admin.TabularInline):
    model = models.Waiver
    extra = 0
    fields = ["standard", "reason", "expires_on", "granted_by", "granted_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.GateReview)
class GateReviewAdmin(ScopedAdmin):
    """Read-mostly: requests and decisions go through the gate services and pages."""

    list_display = ["initiative", "reason", "from_stage", "target_stage", "status", "requested_at"]
    list_filter = ["status", "reason", "target_stage"]
    list_select_related = ["initiative"]
    inlines = [GateCriterionResultInline, WaiverInline]
    readonly_fields = [
        "initiative",
        "business_unit",
        "reason",
        "from_stage",
        "target_stage",
        "incident",
        "status",
        "requested_by",
        "requested_at",
        "decision",
        "rationale",
        "decided_by",
        "decided_at",
        "transition",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(models.Waiver)
class WaiverAdmin(ScopedAdmin):
    list_display = ["initiative", "standard", "expires_on", "granted_by"]
    list_select_related = ["initiative", "standard", "granted_by"]
    readonly_fields = [
        "review",
        "initiative",
        "business_unit",
        "standard",
        "granted_by",
        "granted_at",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(models.GateCriterionResult)
class GateCriterionResultAdmin(ScopedAdmin):
    """Checklist lines as decided: evidence of the gate, never edited here."""

    list_display = ["review", "code", "name", "mandatory", "met"]
    list_filter = ["met", "mandatory", "dimension"]
    list_select_related = ["review"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Issue 13's records are written only by their services (rechecks, promotions and roll
# backs); the admin shows them read-only.
class _ReadOnlyAdmin(ScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.CriterionLapse)
class CriterionLapseAdmin(_ReadOnlyAdmin):
    list_display = ["initiative", "code", "detected_on", "resolved_on"]
    list_select_related = ["initiative"]


@admin.register(models.ModelDeployment)
class ModelDeploymentAdmin(_ReadOnlyAdmin):
    list_display = ["ai_system", "model_version", "kind", "started_at", "ended_at"]
    list_select_related = ["ai_system", "model_version"]


@admin.register(models.ModelRollback)
class ModelRollbackAdmin(_ReadOnlyAdmin):
    list_display = ["ai_system", "to_version", "status", "requested_by", "decided_by"]
    list_select_related = ["ai_system", "to_version", "requested_by", "decided_by"]
