"""Writes on the organisation that do more than save a form."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from people.audit import acting_as
from people.models import (
    BusinessUnit,
    BusinessUnitUserObjectPermission,
    UnitMembership,
    UnitRole,
)
from people.scoping import UNIT_PERMISSION, forget_scope, has_global, unit_ids_for

ROLE_ACTIONS = {
    UnitRole.VIEWER: ("view",),
    UnitRole.MEMBER: ("view", "change"),
    UnitRole.LEAD: ("view", "change", "manage"),
}


def _unit_permissions() -> dict[str, Permission]:
    perms = Permission.objects.filter(
        content_type__app_label="people", codename__in=UNIT_PERMISSION.values()
    )
    return {p.codename: p for p in perms}


def sync_membership_permissions(*, user, business_unit: BusinessUnit) -> None:
    """Make the user's guardian rows on the unit match their membership (or its absence)."""
    membership = UnitMembership.objects.filter(user=user, business_unit=business_unit).first()
    wanted = (
        {UNIT_PERMISSION[a] for a in ROLE_ACTIONS[UnitRole(membership.role)]}
        if membership
        else set()
    )
    perms = _unit_permissions()
    existing = BusinessUnitUserObjectPermission.objects.filter(
        user=user, content_object=business_unit, permission__in=perms.values()
    )
    existing.exclude(permission__codename__in=wanted).delete()
    have = set(existing.values_list("permission__codename", flat=True))
    BusinessUnitUserObjectPermission.objects.bulk_create(
        [
            BusinessUnitUserObjectPermission(
                user=user, content_object=business_unit, permission=perms[codename]
            )
            for codename in wanted - have
        ]
    )
    forget_scope(user)


def _check_can_manage_memberships(acting_user, business_unit: BusinessUnit) -> None:
    if has_global(acting_user, "people.change_unitmembership"):
        return
    if business_unit.pk in unit_ids_for(acting_user, "manage"):
        return
    raise PermissionDenied("Only the unit's lead or PMO staff can change its memberships.")


@transaction.atomic
def membership_grant(
    *, acting_user, user, business_unit: BusinessUnit, role: str
) -> UnitMembership:
    """Give ``user`` a role on a unit (or change it). The guardian rows follow in the same
    transaction, so the permission and its reviewable record never disagree."""
    _check_can_manage_memberships(acting_user, business_unit)
    if role not in UnitRole.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    with acting_as(acting_user):
        membership, _ = UnitMembership.objects.update_or_create(
            user=user,
            business_unit=business_unit,
            defaults={"role": role, "granted_by": acting_user},
        )
    sync_membership_permissions(user=user, business_unit=business_unit)
    return membership


@transaction.atomic
def membership_revoke(*, acting_user, membership: UnitMembership, authorised: bool = False) -> None:
    """Remove a membership; the user loses the unit's permissions at once.

    ``authorised`` is for callers that checked the authority themselves (an access
    review's reviewer)."""
    if not authorised:
        _check_can_manage_memberships(acting_user, membership.business_unit)
    user, unit = membership.user, membership.business_unit
    with acting_as(acting_user):
        membership.delete()
    sync_membership_permissions(user=user, business_unit=unit)
