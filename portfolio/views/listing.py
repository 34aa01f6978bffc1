"""The list-page pattern's view half: whitelisted sorting and 25-row pagination.

Used by every list page (see templates/components/README.txt).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet

PAGE_SIZE = 25


def sort_queryset(
    qs: QuerySet, request, allowed: Mapping[str, str], *, default: str | None = None
) -> QuerySet:
    """Order ``qs`` by ``?sort=key`` or ``?sort=-key`` where ``key`` is in ``allowed``
    (key -> ORM path). Unknown values fall back to ``default``; ``pk`` breaks ties so
    pagination is stable. Nulls sort last either way."""
    raw = request.GET.get("sort", "") or (default or "")
    descending = raw.startswith("-")
    key = raw.lstrip("-")
    path = allowed.get(key)
    if path is None:
        return qs.order_by(*(qs.query.order_by or qs.model._meta.ordering or ["pk"]), "pk")
    expression = F(path).desc(nulls_last=True) if descending else F(path).asc(nulls_last=True)
    return qs.order_by(expression, "pk")


def paginate(request, qs: QuerySet, *, per_page: int = PAGE_SIZE) -> Page:
    """The page asked for by ``?page=`` (out-of-range and junk values give the nearest
    valid page, never an error)."""
    return Paginator(qs, per_page).get_page(request.GET.get("page"))
