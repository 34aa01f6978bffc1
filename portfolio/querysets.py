from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from people.querysets import ScopedQuerySet
from portfolio.choices import ACTIVE_STAGES, DEFAULT_STAGE_LIMIT_DAYS, Stage

__all__ = ["InitiativeQuerySet", "ScopedQuerySet"]


class InitiativeQuerySet(ScopedQuerySet):
    def active(self):
        return self.filter(stage__in=ACTIVE_STAGES)

    def past_stage_limit(self, *, now=None, limits: dict[str, int] | None = None):
        """Initiatives that have stayed in their stage longer than its limit."""
        now = now or timezone.now()
        limits = limits or DEFAULT_STAGE_LIMIT_DAYS
        condition = Q()
        for stage, days in limits.items():
            condition |= Q(stage=stage, stage_entered_at__lt=now - timedelta(days=days))
        return self.filter(condition)

    def stalled_pilots(self, *, now=None):
        return self.past_stage_limit(now=now).filter(stage=Stage.PROOF_OF_CONCEPT)
