"""Read-only selectors for the periodic jobs: who must be told what, computed in the DB.

A *finding* is one thing that needs someone's attention (an initiative past its stage
limit, a KPI nobody measured). Each selector takes the day to judge against and returns
a list of ``Finding``; the jobs in ``portfolio.tasks`` resolve the recipients (the
unit's leads, the people named on the record, the PMO) and hand them to
``people.notifications.notify``. ``finance.findings`` and ``governance.findings`` follow
the same shape.

Dates are compared as whole days in the project's time zone: a limit of N days from day
D is breached on day D + N + 1, never on D + N.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import (
    Case,
    DateField,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.urls import NoReverseMatch, reverse

from portfolio.choices import ACTIVE_STAGES
from portfolio.models import KPI, Assignment, Initiative, Measurement


@dataclass(frozen=True)
class Finding:
    """One thing that needs attention. ``key`` is stable across runs (it is the
    notification's ``finding_key``); ``user_ids`` are people named on the record who
    must be told besides the unit's leads; ``groups`` names global roles (PMO, Finance)
    told of portfolio-wide findings. ``urgent`` findings are emailed at once; the rest
    wait for each person's digest."""

    kind: str
    key: str
    business_unit_id: int
    title: str
    body: str = ""
    url: str = ""
    user_ids: tuple[int, ...] = field(default=())
    groups: tuple[str, ...] = field(default=())
    urgent: bool = False  # emailed at once instead of in the digest


class DateAddDays(Func):
    """``date + integer`` in PostgreSQL: a date that many days later."""

    arg_joiner = " + "
    template = "(%(expressions)s)"
    output_field = DateField()


def local_date(expression) -> TruncDate:
    """A timestamp's calendar day in the project's time zone."""
    return TruncDate(expression, output_field=DateField())


def record_url(viewnames: list[tuple[str, tuple]], admin: tuple[str, str, int] | None) -> str:
    """The first page that exists for a record: an app view if the app has one, else its
    admin page. Apps grow views over time; the link improves without changing the job."""
    for name, args in viewnames:
        try:
            return reverse(name, args=args)
        except NoReverseMatch:
            continue
    if admin:
        app_label, model_name, pk = admin
        try:
            return reverse(f"admin:{app_label}_{model_name}_change", args=[pk])
        except NoReverseMatch:
            return ""
    return ""


def initiative_url(initiative_id: int) -> str:
    return record_url(
        [
            ("portfolio:initiative_detail", (initiative_id,)),
            ("initiative_detail", (initiative_id,)),
        ],
        ("portfolio", "initiative", initiative_id),
    )


def role_user(role: str, initiative_ref: str = "initiative_id") -> Subquery:
    """The user holding ``role`` on the row's initiative (or null)."""
    return Subquery(
        Assignment.objects.filter(initiative_id=OuterRef(initiative_ref), role=role).values(
            "user_id"
        )[:1]
    )


def ids(*values) -> tuple[int, ...]:
    return tuple(sorted({v for v in values if v}))


CADENCE_DAYS = {
    KPI.Cadence.WEEKLY: 7,
    KPI.Cadence.MONTHLY: 31,
    KPI.Cadence.QUARTERLY: 92,
}


def kpis_without_measurement(*, today: dt.date) -> list[Finding]:
    """KPIs of active initiatives with no measurement within their cadence window
    (weekly 7, monthly 31, quarterly 92 days) plus ``JOBS_KPI_GRACE_DAYS``. A KPI never
    measured counts from the day it was defined."""
    grace = getattr(settings, "JOBS_KPI_GRACE_DAYS", 7)
    window = Case(
        *[
            When(cadence=cadence, then=Value(days + grace))
            for cadence, days in CADENCE_DAYS.items()
        ],
        default=Value(31 + grace),
        output_field=IntegerField(),
    )
    last = (
        Measurement.objects.filter(kpi_id=OuterRef("pk"))
        .order_by()
        .values("kpi_id")
        .annotate(last=Max("measured_on"))
        .values("last")
    )
    rows = (
        KPI.objects.filter(
            initiative__stage__in=ACTIVE_STAGES, initiative__status=Initiative.Status.ACTIVE
        )
        .annotate(
            last_measured=Subquery(last, output_field=DateField()),
            window_days=window,
        )
        .annotate(
            since=Coalesce(F("last_measured"), local_date("created_at")),
        )
        .annotate(due=DateAddDays(F("since"), F("window_days")))
        .filter(due__lt=today)
        .annotate(owner=role_user(Assignment.Role.OPERATOR))
        .order_by("business_unit_id", "initiative__code", "name")
        .values(
            "pk",
            "name",
            "cadence",
            "business_unit_id",
            "initiative_id",
            "initiative__code",
            "last_measured",
            "owner",
        )
    )
    findings = []
    for row in rows:
        last_text = (
            f"last measured on {row['last_measured']:%d %b %Y}"
            if row["last_measured"]
            else "never measured"
        )
        findings.append(
            Finding(
                kind="kpi_unmeasured",
                key=f"kpi_unmeasured:{row['pk']}",
                business_unit_id=row["business_unit_id"],
                title=f"{row['initiative__code']}: KPI \u201c{row['name']}\u201d has no recent measurement",
                body=f"A {row['cadence']} KPI, {last_text}.",
                url=initiative_url(row["initiative_id"]),
                user_ids=ids(row["owner"]),
            )
        )
    return findings
