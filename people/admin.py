"""Admin for the organisation, and the scoped admin base every app uses.

Unit leads are staff users with no model permissions of their own: what they
may see and change in the admin follows their unit memberships, through the
same ``visible_to`` / ``editable_by`` as everywhere else.
"""

from __future__ import annotations

from django.contrib import admin

from people import models
from people.querysets import ScopedQuerySet
from people.scoping import has_global, unit_ids_for


class ScopedAdmin(admin.ModelAdmin):
    """ModelAdmin whose rows, permissions and foreign-key choices follow unit scope."""

    def _scoped(self) -> bool:
        return isinstance(self.model._default_manager.all(), ScopedQuerySet)

    def _perm(self, action: str) -> str:
        opts = self.model._meta
        return f"{opts.app_label}.{action}_{opts.model_name}"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.visible_to(request.user) if self._scoped() else qs

    def _unit_allows(self, request, obj, action: str) -> bool:
        if not self._scoped():
            return False
        ids = unit_ids_for(request.user, action)
        if obj is None:
            return bool(ids)
        return obj.business_unit_id in ids

    def has_module_permission(self, request):
        return super().has_module_permission(request) or (
            self._scoped() and bool(unit_ids_for(request.user, "view"))
        )

    def has_view_permission(self, request, obj=None):
        return (
            has_global(request.user, self._perm("view"))
            or has_global(request.user, self._perm("change"))
            or self._unit_allows(request, obj, "view")
        )

    def has_add_permission(self, request):
        return has_global(request.user, self._perm("add")) or self._unit_allows(
            request, None, "change"
        )

    def has_change_permission(self, request, obj=None):
        return has_global(request.user, self._perm("change")) or self._unit_allows(
            request, obj, "change"
        )

    def has_delete_permission(self, request, obj=None):
        return has_global(request.user, self._perm("delete")) or self._unit_allows(
            request, obj, "manage"
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        manager = related._default_manager
        if isinstance(manager.all(), ScopedQuerySet):
            kwargs["queryset"] = manager.editable_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(models.BusinessUnit)
class BusinessUnitAdmin(ScopedAdmin):
    list_display = ["name", "code", "parent", "lead"]
    list_select_related = ["parent", "lead"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent", "lead"]

    def _unit_allows(self, request, obj, action):
        ids = unit_ids_for(request.user, action)
        return bool(ids) if obj is None else obj.pk in ids


@admin.register(models.UnitMembership)
class UnitMembershipAdmin(ScopedAdmin):
    list_display = ["user", "business_unit", "role", "granted_by", "created_at"]
    list_filter = ["role", "business_unit"]
    list_select_related = ["user", "business_unit", "granted_by"]
    search_fields = ["user__username", "business_unit__name"]
    # Changes go through the membership services so guardian rows follow.
    readonly_fields = ["user", "business_unit", "role", "granted_by"]

    def has_add_permission(self, request):
        return False


@admin.register(models.CenterOfExcellence)
class CenterOfExcellenceAdmin(ScopedAdmin):
    list_display = ["name", "lead"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]


@admin.register(models.TrainingProgram)
class TrainingProgramAdmin(ScopedAdmin):
    list_display = ["name", "audience", "hours", "coe"]
    search_fields = ["name"]


@admin.register(models.TrainingCompletion)
class TrainingCompletionAdmin(ScopedAdmin):
    list_display = ["user", "program", "business_unit", "completed_on", "score"]
    list_select_related = ["user", "program", "business_unit"]
    list_filter = ["program", "business_unit"]


@admin.register(models.NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "email_frequency"]


@admin.register(models.Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "title", "period", "created_at", "read_at"]
    list_filter = ["kind", "period"]
    list_select_related = ["user"]


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "name",
        "prefix",
        "read_only",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]


@admin.register(models.Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "kind",
        "status",
        "requested_by",
        "progress_done",
        "progress_total",
        "created_at",
    ]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in models.Job._meta.fields]


@admin.register(models.Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    """Written by the heartbeat task only; shown so an administrator can see it."""

    list_display = ["name", "beat_at"]
    readonly_fields = ["name", "beat_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
