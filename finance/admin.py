"""Finance in the admin: read-mostly. Budgets move through the budget services
(request, approve, reject, amend) and the ledger through the imports and manual entry,
so here they are records to look at; exchange rates are plain reference data."""

from django.contrib import admin

from finance import models
from people.admin import DerivedAdmin, ScopedAdmin


@admin.register(models.ExchangeRate)
class ExchangeRateAdmin(ScopedAdmin):
    list_display = ["currency", "valid_from", "rate"]
    list_filter = ["currency"]


@admin.register(models.Budget)
class BudgetAdmin(ScopedAdmin):
    """Only a justification may be corrected here: the line, its amount and its decision
    belong to the workflow (an approved amount changes through an approved amendment)."""

    list_display = ["initiative", "fiscal_year", "kind", "category", "amount", "currency", "status"]
    list_filter = ["status", "kind", "category", "fiscal_year"]
    list_select_related = ["initiative"]
    readonly_fields = ["requested_at", "decided_at"]
    service_owned = (
        "initiative",
        "fiscal_year",
        "kind",
        "category",
        "amount",
        "currency",
        "decision_note",
        "amends",
    )
    governed = True
    add_via_app = True


@admin.register(models.ImportBatch)
class ImportBatchAdmin(ScopedAdmin):
    list_display = ["source", "filename", "status", "rows_total", "created_count", "rejected_count"]
    readonly_fields = [f.name for f in models.ImportBatch._meta.fields]
    governed = True
    add_via_app = True


@admin.register(models.SpendEntry)
class SpendEntryAdmin(ScopedAdmin):
    """The ledger as imported or entered; corrections come from the finance system (a
    re-import updates by reference), so nothing is edited or deleted here."""

    list_display = ["posted_on", "initiative", "kind", "category", "amount", "currency", "vendor"]
    list_filter = ["kind", "category", "currency", "source"]
    list_select_related = ["initiative"]
    search_fields = ["reference", "vendor"]
    date_hierarchy = "posted_on"
    readonly_fields = [f.name for f in models.SpendEntry._meta.fields]
    governed = True
    add_via_app = True


class _RollupAdmin(DerivedAdmin):
    """Maintained by database triggers from the ledger: read-only everywhere."""


@admin.register(models.SpendUnitMonth)
class SpendUnitMonthAdmin(_RollupAdmin):
    list_display = ["month", "business_unit", "kind", "category", "currency", "converted"]
    list_filter = ["kind", "category", "currency"]


@admin.register(models.SpendInitiativeMonth)
class SpendInitiativeMonthAdmin(_RollupAdmin):
    list_display = ["month", "initiative", "business_unit", "one_time", "operational"]


@admin.register(models.SpendInitiativeYear)
class SpendInitiativeYearAdmin(_RollupAdmin):
    list_display = ["year", "initiative", "business_unit", "amount"]


@admin.register(models.SpendStageMonth)
class SpendStageMonthAdmin(_RollupAdmin):
    list_display = ["month", "business_unit", "stage", "closed", "one_time", "operational"]
    list_filter = ["stage", "closed"]


@admin.register(models.BudgetUnitYear)
class BudgetUnitYearAdmin(_RollupAdmin):
    list_display = ["fiscal_year", "business_unit", "kind", "category", "currency", "amount"]
    list_filter = ["kind", "category", "currency"]


@admin.register(models.ValueSegment)
class ValueSegmentAdmin(_RollupAdmin):
    list_display = ["kpi", "initiative", "start", "next", "measured_on", "amount", "currency"]


@admin.register(models.ValueUnitStep)
class ValueUnitStepAdmin(_RollupAdmin):
    list_display = ["business_unit", "cadence", "at", "amount", "starts"]


@admin.register(models.ValueUnitMissing)
class ValueUnitMissingAdmin(_RollupAdmin):
    list_display = ["business_unit", "currency", "segments"]


@admin.register(models.VarianceMonth)
class VarianceMonthAdmin(_RollupAdmin):
    """Across units (read only by users who see every unit): global roles only."""

    list_display = ["month", "initiative", "window_spend", "budget"]


# --- FOCUS cloud bills: read here, changed in the app (finance/focus/services.py) ------------


@admin.register(models.FocusLine)
class FocusLineAdmin(ScopedAdmin):
    list_display = ["charge_period_start", "provider", "service_name", "effective_cost"]
    list_filter = ["provider", "charge_category", "service_category"]
    readonly_fields = [f.name for f in models.FocusLine._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.FocusImport)
class FocusImportAdmin(ScopedAdmin):
    list_display = ["created_at", "filename", "focus_version", "status", "rows_total"]
    readonly_fields = [f.name for f in models.FocusImport._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(models.AllocationRule)
class AllocationRuleAdmin(ScopedAdmin):
    """Rules are edited in the app (versioned, re-allocating); read-only here."""

    list_display = ["priority", "name", "active", "initiative", "version"]
    readonly_fields = [f.name for f in models.AllocationRule._meta.fields]
    governed = True  # audited: versioned in the app, never deleted here

    def has_add_permission(self, request):
        return False


@admin.register(models.ServiceCategoryMapping)
class ServiceCategoryMappingAdmin(ScopedAdmin):
    list_display = ["service_category", "cost_category"]
    readonly_fields = [f.name for f in models.ServiceCategoryMapping._meta.fields]
    governed = True  # audited: versioned in the app, never deleted here

    def has_add_permission(self, request):
        return False


@admin.register(models.FocusSettings)
class FocusSettingsAdmin(ScopedAdmin):
    list_display = ["cost_basis", "changed_by"]
    readonly_fields = [f.name for f in models.FocusSettings._meta.fields]
    governed = True  # audited: versioned in the app, never deleted here

    def has_add_permission(self, request):
        return False
