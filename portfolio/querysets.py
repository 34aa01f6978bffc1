from __future__ import annotations

import datetime as dt
from datetime import timedelta

from django.conf import settings
from django.db.models import (
    Aggregate,
    BooleanField,
    Case,
    DateField,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from people.querysets import ScopedQuerySet
from portfolio.choices import ACTIVE_STAGES, DEFAULT_STAGE_LIMIT_DAYS, Stage

__all__ = ["InitiativeQuerySet", "PercentileCont", "ScopedQuerySet", "days_between"]


def days_between(later, earlier) -> Func:
    """Whole days from ``earlier`` to ``later`` (dates; PostgreSQL's date subtraction)."""
    return Func(
        later, earlier, template="(%(expressions)s)", arg_joiner=" - ", output_field=IntegerField()
    )


def _utc_date(field: str) -> Func:
    return Func(
        F(field), template="(%(expressions)s AT TIME ZONE 'UTC')::date", output_field=DateField()
    )


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

    def with_stall(self, *, today: dt.date | None = None):
        """The one definition of stalled, for every page, scan, export and API.

        An initiative is stalled when it is in an active stage, not closed, and either
        has stayed in its stage longer than the stage's ``limit_days``, or has had no
        activity (``last_activity_on``, business dates kept by the database) for the
        stage's ``inactivity_days``, or has a stall review still awaiting its decision
        (asking for the decision does not end the stall; deciding does).

        Annotates ``limit_days``, ``inactivity_days``, ``days_in_stage``,
        ``days_idle``, ``past_limit``, ``inactive``, ``stall_review_open`` and
        ``stalled``. Policies come from ``StagePolicy`` rows over the playbook's
        defaults; everything is in the one query."""
        today = today or timezone.localdate()
        policy = self.model._meta.apps.get_model("portfolio", "StagePolicy").objects.filter(
            stage=OuterRef("stage")
        )
        review_model = self.model._meta.get_field("gate_reviews").related_model
        open_stall_review = review_model.objects.filter(
            initiative_id=OuterRef("pk"), reason="stalled", status="open"
        )
        default_limit = Case(
            *[When(stage=s, then=Value(d)) for s, d in DEFAULT_STAGE_LIMIT_DAYS.items()],
            default=Value(None),
            output_field=IntegerField(),
        )
        active = Q(stage__in=ACTIVE_STAGES) & ~Q(status="closed")
        return (
            self.annotate(
                limit_days=Coalesce(Subquery(policy.values("limit_days")[:1]), default_limit),
                inactivity_days=Coalesce(
                    Subquery(policy.values("inactivity_days")[:1]),
                    Value(settings.JOBS_DEFAULT_INACTIVITY_DAYS),
                ),
                days_in_stage=days_between(Value(today), _utc_date("stage_entered_at")),
                days_idle=days_between(Value(today), F("last_activity_on")),
                stall_review_open=Exists(open_stall_review),
            )
            .annotate(
                past_limit=Case(
                    When(
                        active & Q(limit_days__isnull=False, days_in_stage__gt=F("limit_days")),
                        then=Value(True),
                    ),
                    default=Value(False),
                    output_field=BooleanField(),
                ),
                inactive=Case(
                    When(active & Q(days_idle__gt=F("inactivity_days")), then=Value(True)),
                    default=Value(False),
                    output_field=BooleanField(),
                ),
            )
            .annotate(
                stalled=Case(
                    When(
                        active
                        & (Q(past_limit=True) | Q(inactive=True) | Q(stall_review_open=True)),
                        then=Value(True),
                    ),
                    default=Value(False),
                    output_field=BooleanField(),
                )
            )
        )

    def stalled(self, *, today: dt.date | None = None):
        return self.with_stall(today=today).filter(stalled=True)

    def stalled_pilots(self, *, today: dt.date | None = None):
        return self.stalled(today=today).filter(stage=Stage.PROOF_OF_CONCEPT)


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expr)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), output_field=FloatField(), **extra)
