"""Reads on the organisation."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet

from people.roles import GLOBAL_ROLES

_WITH_ANCESTORS_SQL = """
WITH RECURSIVE up AS (
    SELECT id, parent_id FROM people_businessunit WHERE id = ANY(%s)
    UNION
    SELECT p.id, p.parent_id FROM people_businessunit p JOIN up ON p.id = up.parent_id
)
SELECT id FROM up
"""


def units_with_ancestors(unit_ids: Iterable[int]) -> list[int]:
    """The units and every unit above them (one recursive query)."""
    ids = [int(i) for i in unit_ids]
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_WITH_ANCESTORS_SQL, [ids])
        return [row[0] for row in cursor.fetchall()]


def people_for_units(unit_ids: Iterable[int]) -> QuerySet:
    """The people who may be named on a record of these units (an AI system's owner, ...):
    members of the units or of a unit above them, and holders of a global role. The one
    rule for such choices, so forms, serializers and their validation agree."""
    User = get_user_model()
    units = units_with_ancestors(unit_ids)
    return (
        User.objects.filter(is_active=True)
        .filter(Q(unit_memberships__business_unit_id__in=units) | Q(groups__name__in=GLOBAL_ROLES))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )
