"""Everything ``portfolio`` reads from ``finance`` and ``governance``: the one place it may.

Imports flow ``people`` <- ``portfolio`` <- ``finance``, ``governance`` (DESIGN.md sections
3 and 5). Pages that show money or governance next to initiatives (the home dashboards,
the unit pages, the initiative's money, governance and history tabs, the exports, the
API's rollups and value figures, the periodic jobs) are composed in ``portfolio``, and
they ask the apps above it only through this package, so what ``portfolio`` depends on
up there is one short list of functions instead of imports scattered over its modules
(``tests/foundation/test_layering.py`` fails on any other import of ``finance`` or
``governance`` in ``portfolio``).

Every import of ``finance`` or ``governance`` here is inside a function. ``portfolio`` is
loaded first (it is the Django project, and ``finance`` and ``governance`` import its
models), so a module-level import would load those apps' models while ``portfolio``'s
own are still being defined: an import cycle at start-up. Importing on first call also
keeps ``import portfolio.crossapp`` free for any module, at any time.

Each function is a thin delegation to one selector or service of the app above, or a
small composition of them; none re-exports a model. They take the user first and scope
through ``visible_to(user)`` or the selector's own scoping, exactly as the selector does.

- money: ``unit_values``, ``initiative_values``, ``initiative_value_summary``,
  ``initiative_money``, ``budget_vs_actual``, ``budget_groupings``, ``budget_totals``,
  ``spend_by_month``, ``variance_flag_page``, ``spend_by_stage``, ``budgets_awaiting_approval``,
  ``initiative_budgets``, ``initiative_ai_usage``, ``cost_kind_labels``,
  ``cost_category_labels``, ``exchange_rate_on``;
- governance: ``stalled_initiatives``, ``overdue_stall_decisions``, ``open_gate_review``,
  ``initiative_governance_records``, ``initiative_history``, ``overdue_risk_reviews``,
  ``open_incidents``, the pieces of the governance-gaps query (``valid_attestations``,
  ``applicable_controls``, ``us_high_impact_assessments``, ``open_criterion_lapses_count``)
  and the scorecard's control coverage (``controls_applying_by_dimension``,
  ``attested_controls_by_unit``);
- jobs: ``units_with_access_review_since``, ``access_review_open``;
- ``portfolio.crossapp.demo``: the demo organisation's money and governance records and
  its stall story (``manage.py seed_demo``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

if TYPE_CHECKING:  # annotations only: never imported at run time from here
    from finance.selectors import BudgetActualRow, MonthShare, ValueRow
    from people.models import BusinessUnit
    from portfolio.models import Initiative


# --- Money: value and ROI ----------------------------------------------------------------


def unit_values(user, *, unit: BusinessUnit | None = None) -> list[ValueRow]:
    """Cost, realised value and ROI per unit, descendants rolled up: the top-level units,
    or ``unit`` itself and its direct children (``finance.selectors.unit_value``)."""
    from finance.selectors import unit_value

    return unit_value(user=user, unit=unit)


def initiative_values(
    user, *, unit: BusinessUnit | None = None, initiative_ids: list[int] | None = None
) -> list[ValueRow]:
    """Cost, realised value and ROI per visible initiative, optionally within ``unit`` (and
    its children) or only ``initiative_ids``; one query (``finance.selectors
    .initiative_value``, the honest value rule)."""
    from finance.selectors import initiative_value

    return initiative_value(user=user, unit=unit, initiative_ids=initiative_ids)


def initiative_value_summary(user, initiative: Initiative) -> ValueRow | None:
    """One initiative's value to date, cost to date (one-time and operational), ROI and
    payback in the reporting currency, or None when the user may not see it. One query."""
    rows = initiative_values(user, initiative_ids=[initiative.pk])
    return rows[0] if rows else None


def initiative_money(user) -> dict[int, dict]:
    """Money per visible initiative, keyed by its id (two queries whatever the number of
    initiatives): this fiscal year's approved budget, and to date the spend by kind, the
    realised value and the ROI (``initiative_value``'s)."""
    from finance import selectors as money

    year = timezone.localdate().year
    out: dict[int, dict] = {}
    for row in money.initiative_value(user=user):
        out[row.key_id] = {
            "spend_one_time": row.one_time_cost,
            "spend_operational": row.operational_cost,
            "spend_total": row.total_cost,
            "value": row.realised_value,
            "roi": row.roi,
            "budget": None,
        }
    for row in money.budget_vs_actual(user=user, group_by=("initiative",), fiscal_year=year):
        if row.initiative_id in out:
            out[row.initiative_id]["budget"] = row.budget
    return out


# --- Money: budgets and spend ------------------------------------------------------------


def budget_vs_actual(
    user,
    *,
    group_by: Sequence[str],
    fiscal_year: int | None = None,
    unit: BusinessUnit | None = None,
    initiative: Initiative | None = None,
) -> list[BudgetActualRow]:
    """Approved budgets versus spend (and forecast), grouped by any of
    ``budget_groupings()``, in one query (``finance.selectors.budget_vs_actual``)."""
    from finance.selectors import budget_vs_actual as selector

    return selector(
        user=user, group_by=group_by, fiscal_year=fiscal_year, unit=unit, initiative=initiative
    )


def budget_groupings() -> tuple[str, ...]:
    """The names ``budget_vs_actual`` can group by (unit, initiative, kind, ...)."""
    from finance.selectors import GROUPS

    return GROUPS


def budget_totals(
    user,
    *,
    fiscal_year: int | None = None,
    unit: BusinessUnit | None = None,
    initiative: Initiative | None = None,
) -> BudgetActualRow:
    """The grand total of ``budget_vs_actual`` with the same filters (one row)."""
    from finance.selectors import budget_totals as selector

    return selector(user=user, fiscal_year=fiscal_year, unit=unit, initiative=initiative)


def spend_by_month(
    user, *, fiscal_year: int | None = None, initiative: Initiative | None = None
) -> list[MonthShare]:
    """One-time versus operational spend for each month with spend, and the operational
    share, in the reporting currency (``finance.selectors.operational_share_by_month``)."""
    from finance.selectors import operational_share_by_month

    return operational_share_by_month(user=user, fiscal_year=fiscal_year, initiative=initiative)


def variance_flag_page(user, *, per_page: int, fiscal_year: int | None = None):
    """The first ``per_page`` variance flags, largest overrun first (spending with no budget
    first), and how many there are: the database flags, counts, orders and pages
    (``finance.selectors.variance_flag_page``)."""
    from finance.selectors import variance_flag_page as selector

    return selector(user=user, page=1, per_page=per_page, fiscal_year=fiscal_year)


def spend_by_stage(user, *, fiscal_year: int | None = None) -> dict[str, Decimal]:
    """Spend per current stage of its initiative, in the reporting currency, converted with
    the latest ``ExchangeRate`` on or before each posting (the rule ``finance.selectors``
    uses). Postings in a currency with no rate are left out, never counted at rate 1.
    One query, over the maintained yearly rollup (``SpendInitiativeYear``: one row per
    initiative and year), not the ledger. (Finance has no stage slice, so the grouping by stage is composed here.)"""
    from finance.models import SpendEntry, SpendInitiativeYear

    qs = SpendInitiativeYear.objects.all()
    units = SpendEntry.objects.visible_unit_ids(user)
    if units is not None:
        qs = qs.filter(business_unit_id__in=units)
    if fiscal_year is not None:
        qs = qs.filter(year=fiscal_year)
    rows = qs.values("initiative__stage").annotate(total=Sum("amount")).order_by()
    return {r["initiative__stage"]: r["total"] or Decimal("0") for r in rows}


def budgets_awaiting_approval(user, *, unit_ids=None) -> QuerySet:
    """Requested budget lines the user can see, waiting for finance's decision (only
    finance decides them: ``finance.services.budget_approve``), oldest request first."""
    from finance.models import Budget

    qs = Budget.objects.visible_to(user).filter(status=Budget.Status.REQUESTED)
    if unit_ids is not None:
        qs = qs.filter(business_unit_id__in=unit_ids)
    return qs.select_related("initiative", "requested_by").order_by("requested_at", "pk")


def initiative_budgets(user, initiative: Initiative) -> QuerySet:
    """The initiative's budget lines the user can see, newest fiscal year first, with who
    requested and approved each."""
    from finance.models import Budget

    return (
        Budget.objects.visible_to(user)
        .filter(initiative=initiative)
        .select_related("requested_by", "approved_by")
        .order_by("-fiscal_year", "kind", "category", "-pk")
    )


def initiative_ai_usage(user, initiative: Initiative) -> list[dict[str, Any]]:
    """The initiative's allocated cloud AI usage from FOCUS bills, by provider and service
    (``finance.focus.selectors.initiative_ai_usage``)."""
    from finance.focus.selectors import initiative_ai_usage as selector

    return selector(user=user, initiative=initiative)


def cost_kind_labels() -> dict[str, str]:
    """Cost kind value -> label (one-time, operational)."""
    from finance.models import CostKind

    return dict(CostKind.choices)


def cost_category_labels() -> dict[str, str]:
    """Cost category value -> label (compute and infrastructure, personnel, ...)."""
    from finance.models import CostCategory

    return dict(CostCategory.choices)


def exchange_rate_on(*, currency, day) -> QuerySet:
    """The rate of ``currency`` on ``day`` (the latest ``ExchangeRate`` valid from on or
    before it) as a one-value subquery; both may be ``OuterRef``/``F`` expressions. Empty
    when the currency has no rate then: callers never count it at rate 1."""
    from finance.models import ExchangeRate

    return (
        ExchangeRate.objects.filter(currency=currency, valid_from__lte=day)
        .order_by("-valid_from")
        .values("rate")[:1]
    )


# --- Governance: stalls, gates, records ------------------------------------------------------


def stalled_initiatives(user) -> QuerySet[Initiative]:
    """Visible stalled initiatives by the one stall rule, with their open stall review's
    deadline and escalation (``governance.selectors.stalled_initiatives``)."""
    from governance.selectors import stalled_initiatives as selector

    return selector(user)


def overdue_stall_decisions(user) -> QuerySet:
    """Open stall reviews past their decision deadline, oldest deadline first, with
    ``days_overdue`` (``governance.selectors.overdue_stall_decisions``)."""
    from governance.selectors import overdue_stall_decisions as selector

    return selector(user)


def open_gate_review(user, initiative: Initiative):
    """The initiative's open gate review, if the user may see it (finance sees
    initiatives, not gate reviews), else None. One query."""
    from governance.models import GateReview

    return GateReview.objects.visible_to(user).filter(initiative=initiative, status="open").first()


def initiative_governance_records(user, initiative: Initiative) -> dict[str, QuerySet]:
    """The initiative's governance records the user can see, each list in the order the
    governance tab shows it: AI systems, model versions, risk assessments, control
    attestations, fairness audits and incidents. Unevaluated querysets."""
    from governance.models import (
        AISystem,
        ControlAttestation,
        FairnessAudit,
        Incident,
        ModelVersion,
        RiskAssessment,
    )

    return {
        "ai_systems": AISystem.objects.visible_to(user).filter(initiative=initiative),
        "model_versions": ModelVersion.objects.visible_to(user)
        .filter(ai_system__initiative=initiative)
        .select_related("ai_system", "approved_by")
        .order_by("ai_system__name", "-created_at"),
        "risk_assessments": RiskAssessment.objects.visible_to(user)
        .filter(initiative=initiative)
        .select_related("assessor")
        .order_by("-assessed_on", "-pk"),
        "attestations": ControlAttestation.objects.visible_to(user)
        .filter(initiative=initiative)
        .select_related("control", "attested_by")
        .order_by("control__code"),
        "fairness_audits": FairnessAudit.objects.visible_to(user)
        .filter(initiative=initiative)
        .select_related("model_version")
        .order_by("-audited_on", "-pk"),
        "incidents": Incident.objects.visible_to(user)
        .filter(initiative=initiative)
        .order_by("-detected_at", "-pk"),
    }


def initiative_history(user, initiative: Initiative, *, limit: int):
    """The newest ``limit`` audit events of the initiative and of every record that belongs
    to it, each shown only if the viewer may read its model (``governance``'s
    ``AuditLog``, keyset read): a page with ``events`` and ``next``."""
    from governance.selectors import AuditLog

    return AuditLog(viewer=user, references=initiative).page(limit=limit)


OPEN_INCIDENT_STATUSES = ("open", "investigating", "mitigated")


def overdue_risk_reviews(user, *, unit_ids=None, today: dt.date | None = None) -> QuerySet:
    """Current risk assessments the user can see whose next review date has passed,
    earliest due first."""
    from governance.models import RiskAssessment

    today = today or timezone.localdate()
    qs = RiskAssessment.objects.visible_to(user).filter(
        status=RiskAssessment.Status.CURRENT, next_review_due__lt=today
    )
    if unit_ids is not None:
        qs = qs.filter(business_unit_id__in=unit_ids)
    return qs.select_related("initiative").order_by("next_review_due", "pk")


def open_incidents(user, *, unit_ids=None) -> QuerySet:
    """Open, investigating or mitigated incidents the user can see, most severe first,
    then oldest."""
    from governance.models import Incident

    qs = Incident.objects.visible_to(user).filter(status__in=OPEN_INCIDENT_STATUSES)
    if unit_ids is not None:
        qs = qs.filter(business_unit_id__in=unit_ids)
    severity = Case(
        When(severity="critical", then=Value(0)),
        When(severity="high", then=Value(1)),
        When(severity="medium", then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return qs.select_related("initiative").order_by(severity, "detected_at", "pk")


# --- Governance: pieces of the governance-gaps query ----------------------------------------
# Used inside an ``Initiative`` query: the initiative is the outer query, so these refer to
# its columns with ``OuterRef``.


def valid_attestations(*, today: dt.date) -> QuerySet:
    """Attestations that satisfy a control on ``today``: attested and not expired, or
    marked not applicable. For an ``Exists`` inside a ``Control`` subquery of an
    ``Initiative`` query (initiative ``OuterRef(OuterRef("pk"))``, control ``OuterRef("pk")``)."""
    from governance.models import ControlAttestation

    return ControlAttestation.objects.filter(
        initiative_id=OuterRef(OuterRef("pk")),
        control_id=OuterRef("pk"),
    ).filter(
        Q(status=ControlAttestation.Status.NOT_APPLICABLE)
        | Q(status=ControlAttestation.Status.ATTESTED)
        & (Q(expires_on__isnull=True) | Q(expires_on__gte=today))
    )


def applicable_controls(*, tier, source) -> QuerySet:
    """Controls that apply to an initiative of ``tier`` and ``source`` (expressions such as
    ``OuterRef("risk_tier")``) by governance's one rule, ``control_applies``. The stage
    from which each applies (``applies_from_stage``) is left to the caller."""
    from governance.models import Control

    return Control.objects.applicable(tier=tier, source=source)


def us_high_impact_assessments() -> QuerySet:
    """Current (or reopened) risk assessments of the outer initiative (``OuterRef("pk")``)
    that rate it high-impact under the US federal rules: for an ``Exists``."""
    from governance.models import RiskAssessment

    return RiskAssessment.objects.filter(
        initiative_id=OuterRef("pk"),
        us_high_impact=True,
        status__in=[RiskAssessment.Status.CURRENT, RiskAssessment.Status.REOPENED],
    )


def open_criterion_lapses_count() -> QuerySet:
    """The number of unresolved lapses of the outer initiative's passed gate criteria
    (``governance.services.gate_criteria_recheck`` records them), as a one-value subquery
    (``OuterRef("pk")``); empty when there are none."""
    from governance.models import CriterionLapse

    return (
        CriterionLapse.objects.filter(initiative_id=OuterRef("pk"), resolved_on__isnull=True)
        .order_by()
        .values("initiative_id")
        .annotate(n=Count("pk"))
        .values("n")
    )


# --- Governance: control coverage by unit (the scaling scorecard) -------------------------


def _dimension_of(standard_path: str):
    """A control's scaling dimension: its standard's, or security and governance."""
    from portfolio.choices import Dimension

    return Coalesce(F(standard_path), Value(Dimension.SECURITY_GOVERNANCE.value))


def _stage_rank_of(stage_path: str):
    from portfolio.choices import STAGE_ORDER

    return Case(
        *[When(**{stage_path: s}, then=Value(i)) for s, i in STAGE_ORDER.items()],
        default=Value(99),
        output_field=IntegerField(),
    )


def controls_applying_by_dimension(
    combos: Sequence[tuple[str, str]], *, dimensions: Sequence[str]
) -> dict[tuple[str, str], dict[tuple[str, str], int]]:
    """How many controls apply to an initiative of each (risk tier, source) in ``combos``,
    by governance's one rule (``control_applies``), per (dimension, ``applies_from_stage``)
    of the controls in ``dimensions``: ``{(dimension, from_stage): {(tier, source): n}}``.
    One query, whatever the number of initiatives."""
    from governance.models import Control, control_applies

    combos = list(combos)
    rows = (
        Control.objects.annotate(dim=_dimension_of("standard__dimension"))
        .filter(dim__in=list(dimensions))
        .order_by()
        .values("dim", "applies_from_stage")
        .annotate(
            **{
                f"c{i}": Count("pk", filter=control_applies(tier=tier, source=source))
                for i, (tier, source) in enumerate(combos)
            }
        )
    )
    return {
        (row["dim"], row["applies_from_stage"]): {
            combo: row[f"c{i}"] for i, combo in enumerate(combos)
        }
        for row in rows
    }


def attested_controls_by_unit(
    unit_ids, *, stages: Sequence[str], today: dt.date, dimensions: Sequence[str]
) -> dict[tuple[int, str], int]:
    """Per (unit, dimension): the valid attestations (attested and not expired on
    ``today``, or marked not applicable) of controls that apply to their initiative (its
    tier and source, and it has reached the control's starting stage), counting the
    units' own open initiatives in ``stages``. One query."""
    from governance.models import Control, ControlAttestation, control_applies
    from portfolio.models import Initiative

    applies = (
        Control.objects.filter(pk=OuterRef("control_id"))
        .filter(
            control_applies(
                tier=OuterRef("initiative__risk_tier"), source=OuterRef("initiative__source")
            )
        )
        .annotate(rank=_stage_rank_of("applies_from_stage"))
        .filter(rank__lte=OuterRef("initiative_rank"))
    )
    rows = (
        ControlAttestation.objects.filter(
            initiative__business_unit_id__in=list(unit_ids), initiative__stage__in=stages
        )
        .exclude(initiative__status=Initiative.Status.CLOSED)
        .filter(
            Q(status=ControlAttestation.Status.NOT_APPLICABLE)
            | Q(status=ControlAttestation.Status.ATTESTED)
            & (Q(expires_on__isnull=True) | Q(expires_on__gte=today))
        )
        .annotate(
            initiative_rank=_stage_rank_of("initiative__stage"),
            dim=_dimension_of("control__standard__dimension"),
        )
        .filter(Exists(applies), dim__in=list(dimensions))
        .order_by()
        .values("initiative__business_unit_id", "dim")
        .annotate(n=Count("pk"))
    )
    return {(r["initiative__business_unit_id"], r["dim"]): r["n"] for r in rows}


# --- Jobs ----------------------------------------------------------------------------------


def units_with_access_review_since(day: dt.date) -> QuerySet:
    """Ids of the units with an access review campaign opened on or after ``day`` (a
    subquery, for ``pk__in``)."""
    from governance.models import AccessReview

    return AccessReview.objects.filter(opened_on__gte=day).values("business_unit_id")


def access_review_open(*, acting_user, business_unit, reviewer, due_on: dt.date):
    """Open an access review campaign of ``business_unit`` for ``reviewer``
    (``governance.services.access_review_open``: its rules, audit and notifications)."""
    from governance.services import access_review_open as service

    return service(
        acting_user=acting_user, business_unit=business_unit, reviewer=reviewer, due_on=due_on
    )
