from django.contrib import admin

from finance import models
from people.admin import ScopedAdmin


@admin.register(models.ExchangeRate)
class ExchangeRateAdmin(ScopedAdmin):
    list_display = ["currency", "valid_from", "rate"]
    list_filter = ["currency"]


@admin.register(models.Budget)
class BudgetAdmin(ScopedAdmin):
    list_display = ["initiative", "fiscal_year", "kind", "category", "amount", "currency", "status"]
    list_filter = ["status", "kind", "category", "fiscal_year"]
    list_select_related = ["initiative"]
    exclude = ["business_unit"]
    # Approval goes through the budget services (separation of duties).
    readonly_fields = ["status", "approved_by", "decided_at", "requested_at"]


@admin.register(models.ImportBatch)
class ImportBatchAdmin(ScopedAdmin):
    list_display = ["source", "filename", "status", "rows_total", "created_count", "rejected_count"]
    readonly_fields = [f.name for f in models.ImportBatch._meta.fields]


@admin.register(models.SpendEntry)
class SpendEntryAdmin(ScopedAdmin):
    list_display = ["posted_on", "initiative", "kind", "category", "amount", "currency", "vendor"]
    list_filter = ["kind", "category", "currency", "source"]
    list_select_related = ["initiative"]
    search_fields = ["reference", "vendor"]
    date_hierarchy = "posted_on"
    exclude = ["business_unit"]
