"""The scoped queryset every business-unit-owned model uses.

``visible_to(user)`` and ``editable_by(user)`` are the only way views, API
viewsets, exports, admin and tasks decide which rows a user may touch.
"""

from __future__ import annotations

from django.db import models

from people.scoping import has_global, unit_ids_for


class ScopedQuerySet(models.QuerySet):
    #: The field holding the owning unit's id; BusinessUnit itself uses "id".
    scope_field = "business_unit_id"

    def _model_perm(self, action: str) -> str:
        opts = self.model._meta
        return f"{opts.app_label}.{action}_{opts.model_name}"

    def visible_unit_ids(self, user) -> frozenset[int] | None:
        """The units ``visible_to`` keeps, or None for all of them (a global role): for
        raw SQL that filters a large table on its unit column directly."""
        if has_global(user, self._model_perm("view")) or has_global(
            user, self._model_perm("change")
        ):
            return None
        return unit_ids_for(user, "view")

    def visible_to(self, user):
        ids = self.visible_unit_ids(user)
        if ids is None:
            return self.all()
        return self.filter(**{f"{self.scope_field}__in": ids})

    def editable_by(self, user):
        if has_global(user, self._model_perm("change")):
            return self.all()
        return self.filter(**{f"{self.scope_field}__in": unit_ids_for(user, "change")})

    def manageable_by(self, user):
        """Rows whose unit the user leads (approvals, reviews) or holds globally."""
        if has_global(user, self._model_perm("change")):
            return self.all()
        return self.filter(**{f"{self.scope_field}__in": unit_ids_for(user, "manage")})


class BusinessUnitQuerySet(ScopedQuerySet):
    scope_field = "id"

    def top_level(self):
        return self.filter(parent__isnull=True)


ScopedManager = models.Manager.from_queryset(ScopedQuerySet)
