"""Which business units a user may see or change: the one scoping rule.

A unit role comes from a ``UnitMembership``, which grants guardian object
permissions on the ``BusinessUnit`` row. A grant on a unit covers all its
descendants. Global roles (PMO, Finance, CoE, Auditor) are groups holding
model-level permissions, which count as "every unit" for that model.

``unit_ids_for`` resolves the user's units once per user object (one small
recursive query) and caches them, so a request that scopes ten querysets pays
for one lookup.
"""

from __future__ import annotations

from typing import Literal

from django.db import connection

Action = Literal["view", "change", "manage"]

UNIT_PERMISSION = {
    "view": "view_unit_portfolio",
    "change": "change_unit_portfolio",
    "manage": "manage_unit",
}

_CACHE_ATTR = "_unit_scope_cache"

_UNIT_IDS_SQL = """
WITH RECURSIVE granted AS (
    SELECT up.content_object_id AS id
    FROM people_businessunituserobjectpermission up
    JOIN auth_permission p ON p.id = up.permission_id
    WHERE up.user_id = %s AND p.codename = %s
), tree AS (
    SELECT bu.id FROM people_businessunit bu WHERE bu.id IN (SELECT id FROM granted)
    UNION
    SELECT child.id FROM people_businessunit child JOIN tree ON child.parent_id = tree.id
)
SELECT id FROM tree
"""


def unit_ids_for(user, action: Action) -> frozenset[int]:
    """The ids of the units on which ``user`` holds the unit permission for ``action``.

    Only unit memberships count here; callers check global (model-level)
    permissions first.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cache = getattr(user, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(user, _CACHE_ATTR, cache)
    if action not in cache:
        with connection.cursor() as cursor:
            cursor.execute(_UNIT_IDS_SQL, [user.pk, UNIT_PERMISSION[action]])
            cache[action] = frozenset(row[0] for row in cursor.fetchall())
    return cache[action]


def forget_scope(user) -> None:
    """Drop the cached units (after a membership change for this user object)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)
    for attr in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        if hasattr(user, attr):
            delattr(user, attr)


def has_global(user, perm: str) -> bool:
    """A model-level permission held through a global role (or superuser)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.has_perm(perm)
