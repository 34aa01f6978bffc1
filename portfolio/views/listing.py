"""The list-page pattern's view half: whitelisted sorting and 25-row pagination.

Used by every list page (see templates/components/README.txt).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.db.models.constants import LOOKUP_SEP

PAGE_SIZE = 25


def sort_queryset(
    qs: QuerySet, request, allowed: Mapping[str, str], *, default: str | None = None
) -> QuerySet:
    """Order ``qs`` by ``?sort=key`` or ``?sort=-key`` where ``key`` is in ``allowed``
    (key -> ORM path). Unknown values fall back to ``default``; ``pk`` breaks ties (in the
    same direction, so an index on ``(column, id)`` serves the sort) so pagination is
    stable. Nulls sort last either way (``NULLS LAST`` only on nullable columns: on a
    NOT NULL column it would stop PostgreSQL from reading an index backwards)."""
    raw = request.GET.get("sort", "") or (default or "")
    descending = raw.startswith("-")
    key = raw.lstrip("-")
    path = allowed.get(key)
    if path is None:
        return qs.order_by(*(qs.query.order_by or qs.model._meta.ordering or ["pk"]), "pk")
    nulls_last = True if _nullable(qs.model, path) else None
    if descending:
        return qs.order_by(F(path).desc(nulls_last=nulls_last), "-pk")
    return qs.order_by(F(path).asc(nulls_last=nulls_last), "pk")


def _nullable(model, path: str) -> bool:
    """Whether the column at the end of ``path`` can be NULL (annotations: assume so)."""
    opts = model._meta
    try:
        for part in path.split(LOOKUP_SEP):
            field = opts.get_field(part)
            if field.null:
                return True
            if field.is_relation:
                opts = field.related_model._meta
    except FieldDoesNotExist:
        return True
    return False


def paginate(request, qs: QuerySet, *, per_page: int = PAGE_SIZE, count: int | None = None) -> Page:
    """The page asked for by ``?page=`` (out-of-range and junk values give the nearest
    valid page, never an error). ``count``: the number of rows when the caller already
    has it (e.g. from a rollup), saving the ``COUNT(*)`` over a large table."""
    paginator = Paginator(qs, per_page)
    if count is not None:
        paginator.count = count  # a cached_property: the instance value wins
    return paginator.get_page(request.GET.get("page"))
