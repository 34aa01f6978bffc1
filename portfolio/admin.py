from django.contrib import admin

from people.admin import ScopedAdmin
from portfolio import models


class AssignmentInline(admin.TabularInline):
    model = models.Assignment
    extra = 0
    fields = ["role", "user"]


@admin.register(models.Objective)
class ObjectiveAdmin(ScopedAdmin):
    list_display = ["code", "name", "owner", "fiscal_year"]
    search_fields = ["code", "name"]


@admin.register(models.Initiative)
class InitiativeAdmin(ScopedAdmin):
    list_display = ["code", "name", "business_unit", "stage", "status", "risk_tier"]
    list_filter = ["stage", "status", "risk_tier", "business_unit"]
    list_select_related = ["business_unit"]
    search_fields = ["code", "name"]
    filter_horizontal = ["objectives"]
    inlines = [AssignmentInline]

    def get_readonly_fields(self, request, obj=None):
        # Stage moves only through a gate decision, which records the transition; the
        # risk tier only through a risk assessment.
        return ["stage", "stage_entered_at", "risk_tier"] if obj else ["risk_tier"]


@admin.register(models.Assignment)
class AssignmentAdmin(ScopedAdmin):
    list_display = ["initiative", "role", "user"]
    list_select_related = ["initiative", "user"]
    exclude = ["business_unit"]


@admin.register(models.StageTransition)
class StageTransitionAdmin(ScopedAdmin):
    list_display = ["initiative", "from_stage", "to_stage", "decision", "decided_by", "decided_at"]
    list_select_related = ["initiative", "decided_by"]
    list_filter = ["decision", "to_stage"]

    # Append-only: decisions are made through the gate, never edited afterwards.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.KPI)
class KPIAdmin(ScopedAdmin):
    list_display = ["name", "initiative", "kind", "unit", "baseline_value", "target_value"]
    list_select_related = ["initiative"]
    list_filter = ["kind", "category"]
    exclude = ["business_unit"]


@admin.register(models.Measurement)
class MeasurementAdmin(ScopedAdmin):
    list_display = ["kpi", "measured_on", "value"]
    list_select_related = ["kpi"]
    exclude = ["business_unit"]


@admin.register(models.AdoptionSnapshot)
class AdoptionSnapshotAdmin(ScopedAdmin):
    list_display = ["initiative", "as_of", "eligible_users", "active_users", "satisfaction"]
    list_select_related = ["initiative"]
    exclude = ["business_unit"]


@admin.register(models.IntegrationPoint)
class IntegrationPointAdmin(ScopedAdmin):
    list_display = ["initiative", "system", "mode"]
    list_select_related = ["initiative"]
    exclude = ["business_unit"]


@admin.register(models.StagePolicy)
class StagePolicyAdmin(ScopedAdmin):
    list_display = ["stage", "limit_days", "inactivity_days", "decision_days", "reminder_days"]


@admin.register(models.ScorecardSnapshot)
class ScorecardSnapshotAdmin(ScopedAdmin):
    """Written by the monthly task; read-only here (the trend is evidence)."""

    list_display = ["business_unit", "month"]
    list_filter = ["month"]
    readonly_fields = ["business_unit", "month", "scores"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
