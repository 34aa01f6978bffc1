"""Reads on the organisation."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet

from people.roles import COE, PMO

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


#: Global roles whose holders may be named on any unit's record (an owner, a steward, a
#: reviewer): PMO runs the portfolio and CoE members advise and sponsor across units.
#: Finance and auditors are not named on records: auditors check them, finance funds them
#: through budgets, not through an accountability role.
NAMED_GLOBAL_ROLES = (PMO, COE)


def people_for_units(
    unit_ids: Iterable[int], *, unit_roles: Iterable[str] | None = None
) -> QuerySet:
    """The people who may be named on a record of these units (an initiative's owners, an
    AI system's owner, a dataset's steward, an access review's reviewer): active holders of
    a role (``unit_roles``: any when None) in one of the units or a unit above them, and
    holders of a global role in :data:`NAMED_GLOBAL_ROLES`. The one rule for such choices,
    so drop-downs, forms, serializers, the admin and services agree; nobody with no role
    in the record's unit is offered or accepted."""
    User = get_user_model()
    units = units_with_ancestors(unit_ids)
    member = Q(unit_memberships__business_unit_id__in=units)
    if unit_roles is not None:
        member &= Q(unit_memberships__role__in=list(unit_roles))
    return (
        User.objects.filter(is_active=True)
        .filter(member | Q(groups__name__in=NAMED_GLOBAL_ROLES))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def may_be_named(user, unit_ids: Iterable[int], *, unit_roles: Iterable[str] | None = None) -> bool:
    """Whether ``user`` is one of :func:`people_for_units` (one query)."""
    if user is None:
        return False
    return people_for_units(unit_ids, unit_roles=unit_roles).filter(pk=user.pk).exists()
