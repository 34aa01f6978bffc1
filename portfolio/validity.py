"""Dates that can be true, one rule for every app: model ``clean()`` methods, services and
imports ask these functions, and check constraints hold the fixed bounds in the database
(where "today" cannot be used)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2100, 12, 31)


def in_range(field: str) -> Q:
    """A check-constraint condition: ``field`` is empty or within the fixed bounds."""
    return Q(**{f"{field}__isnull": True}) | Q(
        **{f"{field}__gte": EARLIEST, f"{field}__lte": LATEST}
    )


def date_problem(value: dt.date | None, *, max_future_days: int | None = None) -> str:
    """Why ``value`` cannot be a real date for this field ("" if it can)."""
    if value is None:
        return ""
    if value < EARLIEST:
        return f"{value:%d %b %Y} is too far in the past (from {EARLIEST:%Y} on)."
    if value > LATEST:
        return f"{value:%d %b %Y} is too far in the future."
    if max_future_days is not None:
        latest = timezone.localdate() + dt.timedelta(days=max_future_days)
        if value > latest:
            return f"{value:%d %b %Y} is too far ahead (at most {latest:%d %b %Y})."
    return ""
