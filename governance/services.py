"""Governance decisions with separation of duties."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance.models import AccessReviewItem, ModelVersion
from people.audit import acting_as
from people.errors import SeparationOfDutiesError
from people.models import UnitMembership
from people.scoping import has_global, unit_ids_for
from people.services import membership_revoke


@transaction.atomic
def model_version_promote(*, acting_user, model_version: ModelVersion) -> ModelVersion:
    """Approve a model version for production. The approver is never its creator; the
    version previously in production for the same system is retired."""
    mv = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
    if not (
        has_global(acting_user, "governance.approve_modelversion")
        or mv.business_unit_id in unit_ids_for(acting_user, "manage")
    ):
        raise PermissionDenied("You may not approve model versions for this unit.")
    if mv.created_by_id == acting_user.pk:
        raise SeparationOfDutiesError(
            "You created this model version, so someone else must approve it."
        )
    if mv.status in (ModelVersion.Status.PRODUCTION, ModelVersion.Status.RETIRED):
        raise ValidationError(f"This version is already {mv.get_status_display().lower()}.")
    now = timezone.now()
    with acting_as(acting_user):
        ModelVersion.objects.filter(
            ai_system_id=mv.ai_system_id, status=ModelVersion.Status.PRODUCTION
        ).update(status=ModelVersion.Status.RETIRED, retired_at=now, updated_at=now)
        mv.status = ModelVersion.Status.PRODUCTION
        mv.approved_by = acting_user
        mv.deployed_at = now
        mv.save(update_fields=["status", "approved_by", "deployed_at", "updated_at"])
    return mv


@transaction.atomic
def access_review_decide(
    *, acting_user, item: AccessReviewItem, decision: str, note: str = ""
) -> AccessReviewItem:
    """Keep or revoke one membership under review. Nobody decides their own access; a
    revocation removes the membership and its permissions at once, the item stays as
    evidence."""
    item = AccessReviewItem.objects.select_for_update().select_related("review").get(pk=item.pk)
    review = item.review
    if not (
        acting_user.pk == review.reviewer_id
        or has_global(acting_user, "governance.change_accessreview")
    ):
        raise PermissionDenied("Only the campaign's reviewer may decide its items.")
    if item.user_id == acting_user.pk:
        raise SeparationOfDutiesError("You cannot decide on your own access.")
    if decision not in (AccessReviewItem.Decision.KEEP, AccessReviewItem.Decision.REVOKE):
        raise ValidationError({"decision": "Choose keep or revoke."})
    if item.decision != AccessReviewItem.Decision.PENDING:
        raise ValidationError("This item has already been decided.")
    with acting_as(acting_user):
        if decision == AccessReviewItem.Decision.REVOKE and item.membership_id:
            membership = UnitMembership.objects.get(pk=item.membership_id)
            # The reviewer's authority comes from the campaign, not from unit management.
            membership_revoke(acting_user=acting_user, membership=membership, authorised=True)
        item.decision = decision
        item.decided_by = acting_user
        item.decided_at = timezone.now()
        item.note = note
        item.save(update_fields=["decision", "decided_by", "decided_at", "note", "updated_at"])
    return item
