"""The portfolio in the admin (administrators only; see ``people.admin``). Stages move
through gate decisions, a unit change through ``initiative_move``, measurements through
``measurement_record``; those fields are read-only here."""

from django.contrib import admin

from people.admin import DerivedAdmin, ScopedAdmin
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
    # The stage moves only through a gate decision, which records the transition; the
    # risk tier only through a risk assessment; activity and the source are recorded.
    service_owned = ("risk_tier", "source", "source_key", "source_data")
    fixed_after_create = ("stage", "stage_entered_at")
    governed = True

    def save_model(self, request, obj, form, change):
        """A change of unit is a move: every dependent row goes with it (one service)."""
        if change and "business_unit" in form.changed_data:
            from portfolio.services import initiative_move

            target = obj.business_unit
            obj.business_unit_id = form.initial["business_unit"]
            super().save_model(request, obj, form, change)
            initiative_move(acting_user=request.user, initiative=obj, business_unit=target)
            obj.refresh_from_db()
            return
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        # Assignments carry the initiative's unit (it may just have moved).
        instances = formset.save(commit=False)
        for instance in instances:
            instance.business_unit_id = form.instance.business_unit_id
            instance.save()
        for deleted in formset.deleted_objects:
            deleted.delete()
        formset.save_m2m()


@admin.register(models.Assignment)
class AssignmentAdmin(ScopedAdmin):
    list_display = ["initiative", "role", "user"]
    list_select_related = ["initiative", "user"]
    fixed_after_create = ("initiative",)


@admin.register(models.StageTransition)
class StageTransitionAdmin(ScopedAdmin):
    list_display = ["initiative", "from_stage", "to_stage", "decision", "decided_by", "decided_at"]
    list_select_related = ["initiative", "decided_by"]
    list_filter = ["decision", "to_stage"]
    governed = True

    # Append-only: decisions are made through the gate, never edited afterwards.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.KPI)
class KPIAdmin(ScopedAdmin):
    list_display = ["name", "initiative", "kind", "unit", "baseline_value", "target_value"]
    list_select_related = ["initiative"]
    list_filter = ["kind", "category"]
    fixed_after_create = ("initiative",)
    governed = True


@admin.register(models.Measurement)
class MeasurementAdmin(ScopedAdmin):
    """Measurements are evidence of value: recorded in the app, read here."""

    list_display = ["kpi", "measured_on", "value"]
    list_select_related = ["kpi"]
    service_owned = ("kpi", "measured_on", "value")
    governed = True
    add_via_app = True


@admin.register(models.AdoptionSnapshot)
class AdoptionSnapshotAdmin(ScopedAdmin):
    list_display = ["initiative", "as_of", "eligible_users", "active_users", "satisfaction"]
    list_select_related = ["initiative"]
    fixed_after_create = ("initiative",)


@admin.register(models.IntegrationPoint)
class IntegrationPointAdmin(ScopedAdmin):
    list_display = ["initiative", "system", "mode"]
    list_select_related = ["initiative"]
    fixed_after_create = ("initiative",)


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


@admin.register(models.InitiativeFacts)
class InitiativeFactsAdmin(DerivedAdmin):
    """The scorecard's per-initiative facts, maintained by database triggers: read-only."""

    list_display = ["initiative", "aligned", "measured", "staffed", "deployed", "monitored_on"]
    list_filter = ["aligned", "measured", "staffed", "deployed"]


@admin.register(models.KPIPeriodValue)
class KPIPeriodValueAdmin(DerivedAdmin):
    """The value rollup, maintained by database triggers from the measurements: read-only."""

    list_display = ["kpi", "period", "measured_on", "value", "business_unit"]
    list_filter = ["period"]


@admin.register(models.FlowCohort)
class FlowCohortAdmin(DerivedAdmin):
    """The flow rollup, maintained by database triggers from the initiatives and their
    stage history: read-only."""

    list_display = ["business_unit", "quarter", "started", "reached_12", "killed", "in_pilot"]
    list_filter = ["quarter"]


@admin.register(models.FlowStay)
class FlowStayAdmin(DerivedAdmin):
    """The stays in each stage, maintained by database triggers from the initiatives and
    their stage history: read-only."""

    list_display = ["initiative", "stage", "entered", "left_at", "days", "business_unit"]
    list_filter = ["stage"]
