"""Demo data: open gate reviews for some proof-of-concept initiatives, so the PMO's
"blocked at a gate, and why" view has content. Each review is requested through
``gate_review_request`` by the initiative's requirements owner (or a member of its unit)
so the unit's lead can decide it. Idempotent: it tops up to ``--limit`` requested reviews
and skips initiatives that already have one. Run after the demo portfolio is loaded (``seed_demo`` can call it)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand

from governance.models import GateReview
from governance.services import gate_review_request
from people.models import UnitMembership, UnitRole
from portfolio.choices import Stage
from portfolio.models import Assignment, Initiative


class Command(BaseCommand):
    help = "Open demo gate reviews for proof-of-concept initiatives (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=12)

    def handle(self, *args, limit: int, **options):
        limit -= GateReview.objects.filter(reason=GateReview.Reason.REQUEST).count()
        if limit <= 0:
            self.stdout.write("Gate reviews opened: 0 (the demo already has enough).")
            return
        candidates = (
            Initiative.objects.filter(stage=Stage.PROOF_OF_CONCEPT, status="active")
            .exclude(pk__in=GateReview.objects.values("initiative_id"))
            .select_related("business_unit")
            .order_by("code")[: limit * 3]
        )
        owners = dict(
            Assignment.objects.filter(
                initiative__in=candidates, role=Assignment.Role.REQUIREMENTS_OWNER
            ).values_list("initiative_id", "user")
        )
        members = {}
        for m in (
            UnitMembership.objects.filter(role__in=[UnitRole.MEMBER, UnitRole.LEAD])
            .select_related("user")
            .order_by("role", "created_at")  # members before leads
        ):
            members.setdefault(m.business_unit_id, []).append(m.user)
        opened = 0
        from django.contrib.auth import get_user_model

        users = get_user_model().objects.in_bulk(list(owners.values()))
        for initiative in candidates:
            if opened >= limit:
                break
            people = [users.get(owners.get(initiative.pk))]
            people += members.get(initiative.business_unit_id, [])
            people += members.get(initiative.business_unit.parent_id, [])
            for person in filter(None, people):
                try:
                    gate_review_request(acting_user=person, initiative=initiative)
                except (PermissionDenied, ValidationError, Initiative.DoesNotExist):
                    continue
                opened += 1
                break
        self.stdout.write(f"Gate reviews opened: {opened}.")
