"""Admin for the organisation, and the base every app's admin uses.

The admin is for administrators (issue 12). What a user may do here comes from global
roles only (model permissions through a group, or superuser), never from a unit
membership: unit leads and members work in the app, where every write goes through the
services' rules. For the staff who do use it:

- rows, list filters and foreign-key choices follow ``visible_to`` / ``editable_by``,
  like everywhere else;
- fields that services own (who did something, statuses, denormalised units, whatever
  a model lists in ``service_owned``) are read-only; on an add form the "who" fields
  that record the creator are set from the signed-in user;
- governed records (``governed = True``: the audited models whose history matters) are
  never hard-deleted here, and records that only services create (``add_via_app``) have
  no "Add" button.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.db import models as db_models

from people import models
from people.querysets import ScopedQuerySet
from people.scoping import has_global

#: Fields naming who did something, filled from the acting user on creation.
CREATOR_FIELDS = (
    "created_by",
    "requested_by",
    "entered_by",
    "recorded_by",
    "reported_by",
    "updated_by",
    "granted_by",
)
#: Parents from which a row's ``business_unit`` is copied (denormalised).
UNIT_PARENTS = ("initiative", "kpi", "ai_system", "review")


def service_owned_fields(model) -> list[str]:
    """The fields of ``model`` no admin form may write, whatever the model admin says:
    every foreign key to a user named ``*_by`` (creator, approver, attester, decider,
    granter, ...), ``status`` and ``decision`` (moved by services only), and a
    ``business_unit`` copied from a parent row."""
    names = []
    fields = {f.name: f for f in model._meta.concrete_fields}
    for name, field in fields.items():
        if (
            field.is_relation
            and name.endswith("_by")
            and field.related_model._meta.label == settings.AUTH_USER_MODEL
        ) or name in ("status", "decision"):
            names.append(name)
    if "business_unit" in fields and any(p in fields for p in UNIT_PARENTS):
        names.append("business_unit")
    return names


class ScopedAdmin(admin.ModelAdmin):
    """ModelAdmin whose rows, permissions, filters and foreign-key choices follow scope and
    whose service-owned fields are read-only (see the module docstring)."""

    #: Fields of this model that services own beyond :func:`service_owned_fields`.
    service_owned: tuple[str, ...] = ()
    #: Fields read-only once the row exists (changing them means another service).
    fixed_after_create: tuple[str, ...] = ()
    #: Records with a history that matters: never hard-deleted through the admin.
    governed = False
    #: Records only the app's services create: no "Add" here.
    add_via_app = False

    def _scoped(self) -> bool:
        return isinstance(self.model._default_manager.all(), ScopedQuerySet)

    def _perm(self, action: str) -> str:
        opts = self.model._meta
        return f"{opts.app_label}.{action}_{opts.model_name}"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.visible_to(request.user) if self._scoped() else qs

    def has_view_permission(self, request, obj=None):
        return has_global(request.user, self._perm("view")) or has_global(
            request.user, self._perm("change")
        )

    def has_add_permission(self, request):
        return not self.add_via_app and has_global(request.user, self._perm("add"))

    def has_change_permission(self, request, obj=None):
        return has_global(request.user, self._perm("change"))

    def has_delete_permission(self, request, obj=None):
        return not self.governed and has_global(request.user, self._perm("delete"))

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        owned = [*service_owned_fields(self.model), *self.service_owned]
        if obj is not None:
            owned += self.fixed_after_create
        return readonly + [f for f in owned if f not in readonly]

    def get_list_filter(self, request):
        """Foreign-key filters offer only the values of rows the user can see (a unit
        lead's filter never listed other units' names, but no staff user should see
        more in a filter than in the list)."""
        out = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and "__" not in item:
                field = self.model._meta.get_field(item)
                if field.is_relation and field.many_to_one:
                    item = (item, admin.RelatedOnlyFieldListFilter)
            out.append(item)
        return out

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        manager = related._default_manager
        if isinstance(manager.all(), ScopedQuerySet):
            kwargs["queryset"] = manager.editable_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            for name in CREATOR_FIELDS:
                field = next((f for f in obj._meta.concrete_fields if f.name == name), None)
                if isinstance(field, db_models.ForeignKey):
                    setattr(obj, name, request.user)
        super().save_model(request, obj, form, change)


class DerivedAdmin(ScopedAdmin):
    """A table the database keeps from other rows (a rollup, the scorecard's facts, the
    flow counts): shown, never added, changed or deleted here, superusers included (a
    hand edit would make it disagree with the rows it is computed from)."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.BusinessUnit)
class BusinessUnitAdmin(ScopedAdmin):
    list_display = ["name", "code", "parent", "lead"]
    list_select_related = ["parent", "lead"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent", "lead"]
    governed = True


@admin.register(models.UnitMembership)
class UnitMembershipAdmin(ScopedAdmin):
    """Read-only record; granting goes through the app (the membership service, so the
    guardian rows follow). Deleting here revokes through the same service."""

    list_display = ["user", "business_unit", "role", "granted_by", "created_at"]
    list_filter = ["role", "business_unit"]
    list_select_related = ["user", "business_unit", "granted_by"]
    search_fields = ["user__username", "business_unit__name"]
    readonly_fields = ["user", "business_unit", "role", "granted_by"]
    add_via_app = True

    def delete_model(self, request, obj):
        from people.services import membership_revoke

        membership_revoke(acting_user=request.user, membership=obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("user", "business_unit"):
            self.delete_model(request, membership)


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
class NotificationPreferenceAdmin(ScopedAdmin):
    list_display = ["user", "email_frequency"]
    list_select_related = ["user"]
    fixed_after_create = ("user",)


class SuperuserReadOnlyAdmin(ScopedAdmin):
    """Personal records (someone's inbox, the progress of someone's job): superusers
    may look, nobody edits, adds or deletes them here. Global roles hold model
    permissions on ``people`` for the organisation, not for other people's inboxes."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.Notification)
class NotificationAdmin(SuperuserReadOnlyAdmin):
    list_display = ["user", "kind", "title", "period", "created_at", "read_at"]
    list_filter = ["kind", "period"]
    list_select_related = ["user"]


@admin.register(models.ApiToken)
class ApiTokenAdmin(ScopedAdmin):
    """Tokens are made by their owner in the app (the secret is shown once). Here an
    administrator may rename one or revoke it, never give it to someone else."""

    list_display = [
        "user",
        "name",
        "prefix",
        "read_only",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "prefix",
        "key_hash",
        "read_only",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    add_via_app = True
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        from django.utils import timezone

        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())

    def has_delete_permission(self, request, obj=None):
        return False  # revoked tokens stay, as the record of who could call the API


@admin.register(models.Job)
class JobAdmin(SuperuserReadOnlyAdmin):
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
