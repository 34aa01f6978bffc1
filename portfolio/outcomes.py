"""An initiative's outcomes for a decision: KPI progress against target, value versus
cost, adoption and the spend trend. Composed here, in portfolio, because it reads
finance's selectors (lazily: portfolio sits below finance); the initiative page and
governance's gate review page both show it, so a gate is decided on outcomes.

Every figure is computed by the database: four queries whatever the history's length.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import NullIf
from django.utils import timezone

from portfolio import crossapp
from portfolio.models import KPI, AdoptionSnapshot, Initiative, Measurement


@dataclass
class Outcomes:
    kpis: list = field(default_factory=list)
    value: object | None = None  # finance.selectors.ValueRow
    adoption: list = field(default_factory=list)  # latest first
    spend_months: list = field(default_factory=list)  # finance.selectors.MonthShare
    currency: str = ""

    @property
    def adoption_rate(self) -> Decimal | None:
        if not self.adoption or not self.adoption[0].eligible_users:
            return None
        latest = self.adoption[0]
        return Decimal(latest.active_users) / Decimal(latest.eligible_users)

    @property
    def adoption_trend(self) -> int | None:
        """Active users now minus at the previous snapshot."""
        if len(self.adoption) < 2:
            return None
        return self.adoption[0].active_users - self.adoption[1].active_users


def kpi_progress(user, initiative: Initiative):
    """The initiative's KPIs with their latest measurement and ``progress``: the share of
    the way from baseline to target reached (1.0 = on target), in either direction."""
    latest = Measurement.objects.filter(kpi_id=OuterRef("pk")).order_by("-measured_on", "-pk")
    qs = KPI.objects.visible_to(user).filter(initiative=initiative)
    return list(
        qs.annotate(
            latest_value=Subquery(latest.values("value")[:1]),
            latest_on=Subquery(latest.values("measured_on")[:1]),
        )
        .annotate(
            progress=Case(
                When(
                    baseline_value__isnull=False,
                    target_value__isnull=False,
                    latest_value__isnull=False,
                    then=ExpressionWrapper(
                        (F("latest_value") - F("baseline_value"))
                        / NullIf(F("target_value") - F("baseline_value"), Value(0)),
                        output_field=DecimalField(),
                    ),
                ),
                default=None,
                output_field=DecimalField(),
            )
        )
        .order_by("kind", "name")
    )


def initiative_outcomes(user, initiative: Initiative, *, months: int = 12) -> Outcomes:
    today = timezone.localdate()
    value = crossapp.initiative_value_summary(user, initiative)
    since = dt.date(today.year - 1, today.month, 1)
    spend = [m for m in crossapp.spend_by_month(user, initiative=initiative) if m.month >= since][
        -months:
    ]
    adoption = list(
        AdoptionSnapshot.objects.visible_to(user)
        .filter(initiative=initiative)
        .order_by("-as_of")[:6]
    )
    return Outcomes(
        kpis=kpi_progress(user, initiative),
        value=value,
        adoption=adoption,
        spend_months=spend,
        currency=settings.REPORTING_CURRENCY,
    )
