"""Governance in the admin (administrators only; see ``people.admin``). Promotions,
attestations, assessments, incidents, reviews and gates move through the governance
services, so their decisive fields are read-only here and nothing governed is deleted."""

from django.contrib import admin

from governance import models
from people.admin import ScopedAdmin


@admin.register(models.AISystem)
class AISystemAdmin(ScopedAdmin):
    list_display = ["name", "initiative", "owner", "vendor"]
    list_select_related = ["initiative", "owner"]
    fixed_after_create = ("initiative",)
    governed = True


@admin.register(models.Dataset)
class DatasetAdmin(ScopedAdmin):
    list_display = ["name", "initiative", "contains_pii", "contains_demographics"]
    list_select_related = ["initiative"]
    governed = True


@admin.register(models.ModelVersion)
class ModelVersionAdmin(ScopedAdmin):
    list_display = ["ai_system", "version", "status", "created_by", "approved_by", "deployed_at"]
    list_filter = ["status"]
    list_select_related = ["ai_system", "created_by", "approved_by"]
    # Promotion goes through the model-version service (separation of duties): the
    # creator is whoever registered it here (save_model), never a choice.
    readonly_fields = ["deployed_at", "retired_at", "last_validated_at"]
    fixed_after_create = ("ai_system", "version")
    governed = True


@admin.register(models.RiskAssessment)
class RiskAssessmentAdmin(ScopedAdmin):
    list_display = ["initiative", "eu_tier", "us_high_impact", "status", "next_review_due"]
    list_filter = ["eu_tier", "status", "us_high_impact"]
    list_select_related = ["initiative"]
    # Assessments are recorded through the risk service (the initiative's tier follows).
    service_owned = (
        "initiative",
        "eu_tier",
        "us_high_impact",
        "us_justification",
        "assessor",
        "assessed_on",
        "source_data",
    )
    governed = True
    add_via_app = True


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
    governed = True


@admin.register(models.Control)
class ControlAdmin(ScopedAdmin):
    list_display = ["code", "name", "applies_from_stage", "validity_days"]
    governed = True


@admin.register(models.ControlAttestation)
class ControlAttestationAdmin(ScopedAdmin):
    list_display = ["initiative", "control", "status", "attested_by", "expires_on"]
    list_filter = ["status", "control"]
    list_select_related = ["initiative", "control", "attested_by"]
    service_owned = (
        "initiative",
        "control",
        "evidence",
        "attested_on",
        "expires_on",
        "source_data",
    )
    governed = True
    add_via_app = True


@admin.register(models.FairnessAudit)
class FairnessAuditAdmin(ScopedAdmin):
    list_display = ["initiative", "result", "audited_on", "remediation_due"]
    list_filter = ["result"]
    list_select_related = ["initiative"]
    fixed_after_create = ("initiative",)
    governed = True


@admin.register(models.ExplainabilityRecord)
class ExplainabilityRecordAdmin(ScopedAdmin):
    list_display = ["initiative", "updated_at"]
    list_select_related = ["initiative"]
    fixed_after_create = ("initiative",)
    governed = True


@admin.register(models.Incident)
class IncidentAdmin(ScopedAdmin):
    list_display = ["title", "initiative", "severity", "status", "detected_at", "review_due"]
    list_filter = ["severity", "status"]
    list_select_related = ["initiative"]
    # Status, escalation and the timeline move through the incident services.
    service_owned = ("resolved_at", "escalation_level", "escalation_path", "timeline")
    fixed_after_create = ("initiative", "severity")
    governed = True
    add_via_app = True


class AccessReviewItemInline(admin.TabularInline):
    model = models.AccessReviewItem
    extra = 0
    can_delete = False
    fields = ["user", "role", "decision", "decided_by", "decided_at", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.AccessReview)
class AccessReviewAdmin(ScopedAdmin):
    list_display = ["name", "business_unit", "reviewer", "status", "opened_on", "due_on"]
    list_select_related = ["business_unit", "reviewer"]
    inlines = [AccessReviewItemInline]
    # Opened and closed through the access-review services.
    service_owned = ("business_unit", "reviewer", "opened_on", "closed_on")
    governed = True
    add_via_app = True


@admin.register(models.AccessReviewItem)
class AccessReviewItemAdmin(ScopedAdmin):
    list_display = ["review", "user", "role", "decision", "decided_by"]
    list_select_related = ["review", "user", "decided_by"]
    # Items are the review's snapshot of who had access; decided in the app (never by
    # the person reviewed), so every field is read-only here.
    readonly_fields = [f.name for f in models.AccessReviewItem._meta.fields]
    governed = True
    add_via_app = True


class GateCriterionResultInline(admin.TabularInline):
    model = models.GateCriterionResult
    extra = 0
    can_delete = False
    fields = ["code", "name", "mandatory", "met", "detail", "evidence"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class WaiverInline(admin.TabularInline):
    model = models.Waiver
    extra = 0
    can_delete = False
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

    governed = True
    add_via_app = True


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

    governed = True
    add_via_app = True


@admin.register(models.GateCriterionResult)
class GateCriterionResultAdmin(ScopedAdmin):
    """Checklist lines as decided: evidence of the gate, never edited here."""

    list_display = ["review", "code", "name", "mandatory", "met"]
    list_filter = ["met", "mandatory", "dimension"]
    list_select_related = ["review"]

    governed = True
    add_via_app = True

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
