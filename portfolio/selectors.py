"""Reads for portfolio pages: the initiative list, dashboards and rollups.

Every function takes the ``user`` and scopes through ``visible_to``/``manageable_by``;
counts and sums are computed by PostgreSQL (annotate/aggregate), so a page's query
count does not grow with the rows. Money and governance records come through
``portfolio.crossapp``, the one place portfolio reads finance and governance.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.utils import timezone

from people.models import UnitMembership, UnitRole
from people.roles import AUDITOR, COE, FINANCE, PMO
from portfolio import crossapp
from portfolio.choices import (
    ACTIVE_STAGES,
    STAGE_ORDER,
    RiskTier,
    Stage,
)
from portfolio.models import KPI, Assignment, Initiative, StageTransition

HIGH_RISK_TIERS = (RiskTier.HIGH, RiskTier.PROHIBITED)
DASHBOARD_ROWS = 8

# --- Roles -----------------------------------------------------------------------------


def home_role(user) -> str:
    """Which home page a user sees: "pmo", "finance", "unit" or "oversight" (CoE, auditor
    and others: the PMO view, read-only). One small query for the groups, one for leads."""
    if user.is_superuser:
        return "pmo"
    groups = set(user.groups.values_list("name", flat=True))
    if PMO in groups:
        return "pmo"
    if FINANCE in groups:
        return "finance"
    if UnitMembership.objects.filter(user=user).exists():
        return "unit"
    if groups & {COE, AUDITOR}:
        return "oversight"
    return "unit"


def led_unit_ids(user) -> list[int]:
    return list(
        UnitMembership.objects.filter(user=user, role=UnitRole.LEAD).values_list(
            "business_unit_id", flat=True
        )
    )


# --- Initiative list -------------------------------------------------------------------


def _person_name(prefix: str = ""):
    full = Trim(Concat(F(f"{prefix}first_name"), Value(" "), F(f"{prefix}last_name")))
    return Coalesce(NullIf(full, Value("")), F(f"{prefix}username"), output_field=CharField())


def stage_rank():
    """Stages in playbook order (end states after active ones) for sorting."""
    whens = [When(stage=s, then=Value(i)) for s, i in STAGE_ORDER.items()]
    whens += [When(stage=Stage.RETIRED, then=Value(10)), When(stage=Stage.KILLED, then=Value(11))]
    return Case(*whens, default=Value(20), output_field=IntegerField())


def initiatives_for_list(user) -> QuerySet[Initiative]:
    """Visible initiatives with what the list shows: unit, CoE, requirements owner's name
    and the stage's sort rank. One query whatever the page size."""
    owner = Assignment.objects.filter(
        initiative_id=OuterRef("pk"), role=Assignment.Role.REQUIREMENTS_OWNER
    ).annotate(person=_person_name("user__"))
    return (
        Initiative.objects.visible_to(user)
        .with_stall()
        .select_related("business_unit", "coe")
        .annotate(owner_name=Subquery(owner.values("person")[:1]), stage_rank=stage_rank())
    )


INITIATIVE_SORTS = {
    "code": "code",
    "name": "name",
    "unit": "business_unit__name",
    "stage": "stage_rank",
    "status": "status",
    "risk": "risk_tier",
    "coe": "coe__name",
    "owner": "owner_name",
    "entered": "stage_entered_at",
    "activity": "last_activity_on",
    "days": "days_in_stage",
}


# --- Stalled (one definition: ``InitiativeQuerySet.with_stall``) -------------------------


def stalled_initiatives(
    user, *, stage: str | None = None, today: dt.date | None = None
) -> QuerySet[Initiative]:
    """Visible stalled initiatives (every active stage, or ``stage``), longest in stage
    first, with the stall annotations. The same rows as the initiative list's
    ``?stalled=1`` filter and the API's ``?stalled=true``."""
    qs = Initiative.objects.visible_to(user).stalled(today=today)
    if stage:
        qs = qs.filter(stage=stage)
    return qs.select_related("business_unit").order_by("stage_entered_at", "pk")


def stalled_pilots(user, *, today: dt.date | None = None) -> QuerySet[Initiative]:
    """Stalled proof-of-concept initiatives (``stalled_initiatives`` of one stage)."""
    return stalled_initiatives(user, stage=Stage.PROOF_OF_CONCEPT, today=today)


# --- Funnel and decisions --------------------------------------------------------------


def stage_funnel(user, *, unit_ids: list[int] | None = None) -> list[dict]:
    """Initiative counts per stage (every stage listed, zero included), in playbook order."""
    qs = Initiative.objects.visible_to(user)
    if unit_ids is not None:
        qs = qs.filter(business_unit_id__in=unit_ids)
    counts = dict(qs.values_list("stage").annotate(n=Count("pk")).order_by())
    order = [*ACTIVE_STAGES, Stage.RETIRED, Stage.KILLED]
    if counts.get(Stage.UNKNOWN):
        order.append(Stage.UNKNOWN)
    return [{"stage": s.value, "label": s.label, "count": counts.get(s.value, 0)} for s in order]


def quarter_start(today: dt.date) -> dt.date:
    """The first day of the previous calendar quarter ("last quarter")."""
    q_first_month = 3 * ((today.month - 1) // 3) + 1
    this_quarter = dt.date(today.year, q_first_month, 1)
    prev = this_quarter - timedelta(days=1)
    return dt.date(prev.year, 3 * ((prev.month - 1) // 3) + 1, 1)


def end_decisions(user, *, since: dt.datetime) -> QuerySet[StageTransition]:
    """Kill and retire decisions since ``since``, newest first."""
    return (
        StageTransition.objects.visible_to(user)
        .filter(
            decision__in=[StageTransition.Decision.KILL, StageTransition.Decision.RETIRE],
            decided_at__gte=since,
        )
        .select_related("initiative", "business_unit", "decided_by")
        .order_by("-decided_at", "-pk")
    )


# --- Governance gaps (governance through portfolio.crossapp) ---------------------------


def governance_gaps(user, *, today: dt.date | None = None) -> QuerySet[Initiative]:
    """Active high-risk initiatives with at least one applicable control that has no valid
    attestation (attested and not expired, or marked not applicable), annotated with
    ``missing_controls``. High risk: EU tier high (or prohibited), or a current US federal
    high-impact assessment (imported inventories carry only the latter).

    A control applies when its tiers are empty or include the initiative's tier, and the
    initiative has reached the control's ``applies_from_stage``. One query."""
    today = today or timezone.localdate()
    control_rank = Case(
        *[When(applies_from_stage=s, then=Value(i)) for s, i in STAGE_ORDER.items()],
        default=Value(99),
        output_field=IntegerField(),
    )
    missing = (
        crossapp.applicable_controls(tier=OuterRef("risk_tier"), source=OuterRef("source"))
        .annotate(rank=control_rank)
        .filter(rank__lte=OuterRef("stage_rank"))
        .exclude(Exists(crossapp.valid_attestations(today=today)))
        .order_by()
        .values(k=Value(1))
        .annotate(n=Count("pk"))
        .values("n")
    )
    # Criteria of a passed gate that no longer hold (governance.services.gate_criteria_recheck).
    lapses = crossapp.open_criterion_lapses_count()
    high_risk = Q(risk_tier__in=HIGH_RISK_TIERS) | Exists(crossapp.us_high_impact_assessments())
    return (
        Initiative.objects.visible_to(user)
        .filter(stage__in=ACTIVE_STAGES)
        .annotate(stage_rank=stage_rank())
        .annotate(
            missing_controls=Case(
                When(high_risk, then=Coalesce(Subquery(missing[:1]), Value(0))),
                default=Value(0),
                output_field=IntegerField(),
            ),
            lapsed_criteria=Coalesce(Subquery(lapses[:1]), Value(0)),
        )
        .filter(Q(missing_controls__gt=0) | Q(lapsed_criteria__gt=0))
        .select_related("business_unit")
        .order_by("-missing_controls", "-lapsed_criteria", "code")
    )


# --- Unit lead: what needs my action ---------------------------------------------------

KPI_STALE_DAYS = {
    KPI.Cadence.WEEKLY: 14,
    KPI.Cadence.MONTHLY: 45,
    KPI.Cadence.QUARTERLY: 120,
}


def stale_kpis(user, *, unit_ids: list[int] | None = None, today: dt.date | None = None):
    """KPIs of active initiatives with no measurement within their cadence's allowance
    (weekly 14 days, monthly 45, quarterly 120), annotated with ``last_measured``."""
    today = today or timezone.localdate()
    qs = KPI.objects.visible_to(user).filter(initiative__stage__in=ACTIVE_STAGES)
    if unit_ids is not None:
        qs = qs.filter(business_unit_id__in=unit_ids)
    overdue = Q()
    for cadence, days in KPI_STALE_DAYS.items():
        overdue |= Q(cadence=cadence) & (
            Q(last_measured__isnull=True) | Q(last_measured__lt=today - timedelta(days=days))
        )
    # ``last_measured_on`` is kept by the measurements' triggers (portfolio.value_rollup),
    # so this reads the KPIs only, not every measurement of the unit.
    return (
        qs.annotate(last_measured=F("last_measured_on"))
        .filter(overdue)
        .select_related("initiative")
        .order_by(F("last_measured").asc(nulls_first=True), "pk")
    )


def overdue_risk_reviews(user, *, unit_ids=None, today: dt.date | None = None):
    """Current risk assessments the user can see whose next review date has passed
    (``portfolio.crossapp.overdue_risk_reviews``)."""
    return crossapp.overdue_risk_reviews(user, unit_ids=unit_ids, today=today)


OPEN_INCIDENT_STATUSES = crossapp.OPEN_INCIDENT_STATUSES


def open_incidents(user, *, unit_ids=None):
    """Open incidents the user can see, most severe first (``portfolio.crossapp``)."""
    return crossapp.open_incidents(user, unit_ids=unit_ids)


def budgets_awaiting_approval(user, *, unit_ids=None):
    """Requested budget lines the user can see, waiting for finance's decision (only
    finance decides them: ``finance.services.budget_approve``; ``portfolio.crossapp``)."""
    return crossapp.budgets_awaiting_approval(user, unit_ids=unit_ids)


# --- Money by stage (finance has no stage slice: portfolio.crossapp) --------------------


def spend_by_stage(user, *, fiscal_year: int | None = None) -> dict[str, Decimal]:
    """Spend per current stage of its initiative, in the reporting currency, from the
    maintained monthly rollup; postings in a currency with no rate are left out
    (``portfolio.crossapp.spend_by_stage``)."""
    return crossapp.spend_by_stage(user, fiscal_year=fiscal_year)


__all__ = [
    "budgets_awaiting_approval",
    "end_decisions",
    "governance_gaps",
    "home_role",
    "initiatives_for_list",
    "open_incidents",
    "overdue_risk_reviews",
    "quarter_start",
    "stage_funnel",
    "stale_kpis",
    "stalled_initiatives",
    "stalled_pilots",
]


# --- Business units with their portfolio summary ---------------------------------------


def units_with_summary(user) -> QuerySet:
    """Visible units, each with its own initiatives counted by stage group (one query)."""
    from people.models import BusinessUnit

    active = Q(initiatives__stage__in=ACTIVE_STAGES)
    return (
        BusinessUnit.objects.visible_to(user)
        .select_related("lead")
        .annotate(
            n_total=Count("initiatives"),
            n_active=Count("initiatives", filter=active),
            n_poc=Count("initiatives", filter=Q(initiatives__stage=Stage.PROOF_OF_CONCEPT)),
            n_production=Count(
                "initiatives", filter=active & ~Q(initiatives__stage=Stage.PROOF_OF_CONCEPT)
            ),
            n_ended=Count(
                "initiatives", filter=Q(initiatives__stage__in=[Stage.RETIRED, Stage.KILLED])
            ),
            n_high_risk=Count(
                "initiatives", filter=active & Q(initiatives__risk_tier__in=HIGH_RISK_TIERS)
            ),
        )
        .order_by("name")
    )


def unit_tree(units) -> list[dict]:
    """Nest an already-fetched list of units under their parents (roots: units whose
    parent is not in the list). Pure structure, no queries."""
    by_parent: dict[int | None, list] = {}
    ids = {u.pk for u in units}
    for unit in units:
        parent = unit.parent_id if unit.parent_id in ids else None
        by_parent.setdefault(parent, []).append(unit)

    def build(parent_id):
        return [{"unit": u, "children": build(u.pk)} for u in by_parent.get(parent_id, [])]

    return build(None)


def unit_descendant_ids(unit_id: int):
    """The unit and every unit below it, as a subquery (recursive CTE)."""
    from portfolio.filters import _descendant_ids

    return _descendant_ids(unit_id)
