"""The scaling scorecard: for each business unit (with its child units), a score from 0 to
100 on each of the eight dimensions of scaling, computed from the records, each with the
parts it is made of (a dimension with several parts scores the mean of the parts that
have something to judge).

- strategic alignment: active initiatives linked to a strategic objective;
- infrastructure: production initiatives with a model version in production, retrained
  on schedule (the production version revalidated within its retraining interval: a
  pipeline that runs, not only one that is configured), and monitored
  (an operational KPI measured in the last 60 days: its ``last_measured_on``, kept by the
  measurements' triggers); controls of the infrastructure
  dimension attested; infrastructure gate criteria met;
- security and governance: required controls attested (every control that applies to an
  active initiative by ``governance.models.control_applies`` and its stage, attested and
  not expired, or marked not applicable); active initiatives with a current risk
  assessment not overdue for review; security gate criteria met;
- culture and adoption: people of the unit trained (at least one completion) and users
  active among those eligible on the production initiatives' latest adoption snapshot
  (the two averaged: training beside adoption);
- financial model: the operational share of spend (operational / all spend of the
  unit's production initiatives (not closed) over the last 12 months, in the reporting
  currency, from the maintained rollup ``finance_spendstagemonth``: spend by each
  initiative's current unit, stage and status, a few rows per unit and month);
- measurement: active initiatives with a business KPI that has a baseline;
- organisational structure: active initiatives with a requirements owner, an operator and an
  accountable executive named;
- integration depth: production initiatives' integration, standalone 0 to automated 100.

A control's dimension is its standard's; a control without a standard is a security and
governance control.

What each initiative's records say (objective linked, business KPI with a baseline, key
roles named, the last operational measurement, a model in production, the day its
revalidation falls due, the day its risk review falls due) is read from one narrow
maintained row per initiative, ``portfolio.InitiativeFacts`` (kept by triggers:
``portfolio.facts``, ``governance.facts``); the checks that depend on today compare its
dates with today, so the rows never go stale as days pass.

Four queries for any number of units: one (a recursive unit tree, aggregates per unit)
reads the tables of portfolio, finance and governance by name (no import of either app);
three count required and attested controls through governance's one rule of which
controls apply (``control_applies``), per unit (``controls_by_unit``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from portfolio.choices import ACTIVE_STAGES, Dimension

ACTIVE = [s.value for s in ACTIVE_STAGES]
PRODUCTION = ACTIVE[1:]
KEY_ROLES = ["requirements_owner", "operator", "accountable_executive"]


@dataclass
class Part:
    label: str
    numerator: int
    denominator: int
    url: str = ""
    #: The currency when numerator and denominator are amounts (whole units), else "".
    currency: str = ""

    @property
    def share(self) -> Decimal | None:
        if not self.denominator:
            return None
        return (Decimal(self.numerator) / self.denominator).quantize(Decimal("0.0001"))


@dataclass
class DimensionScore:
    dimension: str
    label: str
    score: int | None  # None: nothing to judge yet
    parts: list[Part] = field(default_factory=list)


@dataclass
class Scorecard:
    unit_id: int
    unit_name: str
    dimensions: list[DimensionScore]

    def weakest_first(self) -> list[DimensionScore]:
        return sorted(self.dimensions, key=lambda d: (d.score is None, d.score or 0))

    def as_scores(self) -> dict[str, int | None]:
        return {d.dimension: d.score for d in self.dimensions}


SQL = """
WITH RECURSIVE buckets(bucket_id, unit_id) AS (
    SELECT id, id FROM people_businessunit WHERE id = ANY(%(units)s)
    UNION
    SELECT b.bucket_id, c.id FROM people_businessunit c JOIN buckets b ON c.parent_id = b.unit_id
), ini AS (
    SELECT b.bucket_id, i.id, i.stage, i.integration_depth
    FROM portfolio_initiative i JOIN buckets b ON b.unit_id = i.business_unit_id
    WHERE i.stage = ANY(%(active)s) AND i.status <> 'closed'
), s AS (
    SELECT ini.bucket_id,
        COUNT(*) AS active,
        COUNT(*) FILTER (WHERE f.aligned) AS aligned,
        COUNT(*) FILTER (WHERE f.measured) AS measured,
        COUNT(*) FILTER (WHERE f.staffed) AS staffed,
        COUNT(*) FILTER (WHERE ini.stage = ANY(%(production)s)) AS production,
        COUNT(*) FILTER (WHERE ini.stage = ANY(%(production)s) AND f.deployed) AS deployed,
        COUNT(*) FILTER (WHERE ini.stage = ANY(%(production)s)
                           AND f.revalidation_due >= %(today)s) AS retrained,
        COUNT(*) FILTER (WHERE ini.stage = ANY(%(production)s)
                           AND f.monitored_on >= %(monitored_since)s) AS monitored,
        COUNT(*) FILTER (WHERE f.review_due >= %(today)s) AS assessed,
        COALESCE(SUM(CASE ini.integration_depth WHEN 'on_request' THEN 1 WHEN 'embedded' THEN 2
                      WHEN 'automated' THEN 3 ELSE 0 END)
                 FILTER (WHERE ini.stage = ANY(%(production)s)), 0) AS depth_points
    FROM ini LEFT JOIN portfolio_initiativefacts f ON f.initiative_id = ini.id
    GROUP BY ini.bucket_id
), crit AS (
    SELECT b.bucket_id,
        COUNT(*) FILTER (WHERE c.dimension = 'infrastructure') AS infra_total,
        COUNT(*) FILTER (WHERE c.dimension = 'infrastructure' AND c.met) AS infra_met,
        COUNT(*) FILTER (WHERE c.dimension = 'security_governance') AS sec_total,
        COUNT(*) FILTER (WHERE c.dimension = 'security_governance' AND c.met) AS sec_met
    FROM governance_gatecriterionresult c JOIN buckets b ON b.unit_id = c.business_unit_id
    GROUP BY b.bucket_id
), ppl AS (
    SELECT b.bucket_id, COUNT(DISTINCT m.user_id) AS members,
        COUNT(DISTINCT m.user_id) FILTER (WHERE EXISTS (
            SELECT 1 FROM people_trainingcompletion t WHERE t.user_id = m.user_id /*probe*/))
            AS trained,
        (SELECT COUNT(*) FROM people_trainingcompletion t2
         JOIN buckets b2 ON b2.unit_id = t2.business_unit_id
         WHERE b2.bucket_id = b.bucket_id) AS completions
    FROM people_unitmembership m JOIN buckets b ON b.unit_id = m.business_unit_id
    GROUP BY b.bucket_id
), adoption AS (
    SELECT bucket_id, SUM(active_users) AS active_users, SUM(eligible_users) AS eligible
    FROM (SELECT DISTINCT ON (a.initiative_id) ini.bucket_id, a.active_users, a.eligible_users
          FROM portfolio_adoptionsnapshot a JOIN ini ON ini.id = a.initiative_id
          WHERE ini.stage = ANY(%(production)s)
          ORDER BY a.initiative_id, a.as_of DESC) latest
    GROUP BY bucket_id
), spend AS (
    SELECT b.bucket_id,
           ROUND(SUM(r.operational)) AS operational,
           ROUND(SUM(r.one_time + r.operational)) AS total
    FROM finance_spendstagemonth r JOIN buckets b ON b.unit_id = r.business_unit_id
    WHERE r.stage = ANY(%(production)s) AND NOT r.closed AND r.month >= %(spend_since)s
    GROUP BY b.bucket_id
), tree AS (
    SELECT bucket_id, ARRAY_AGG(unit_id) AS unit_ids FROM buckets GROUP BY bucket_id
)
SELECT u.id AS unit_id, u.name AS unit_name, tree.unit_ids,
       COALESCE(s.active, 0) AS active, COALESCE(s.aligned, 0) AS aligned,
       COALESCE(s.measured, 0) AS measured, COALESCE(s.staffed, 0) AS staffed,
       COALESCE(s.production, 0) AS production, COALESCE(s.deployed, 0) AS deployed,
       COALESCE(s.retrained, 0) AS retrained, COALESCE(s.monitored, 0) AS monitored,
       COALESCE(s.assessed, 0) AS assessed,
       COALESCE(spend.operational, 0) AS spend_operational,
       COALESCE(spend.total, 0) AS spend_total,
       COALESCE(s.depth_points, 0) AS depth_points,
       COALESCE(crit.infra_total, 0) AS infra_total, COALESCE(crit.infra_met, 0) AS infra_met,
       COALESCE(crit.sec_total, 0) AS sec_total, COALESCE(crit.sec_met, 0) AS sec_met,
       COALESCE(ppl.members, 0) AS members, COALESCE(ppl.trained, 0) AS trained,
       COALESCE(ppl.completions, 0) AS completions,
       COALESCE(adoption.active_users, 0) AS active_users,
       COALESCE(adoption.eligible, 0) AS eligible
FROM people_businessunit u
LEFT JOIN s ON s.bucket_id = u.id
LEFT JOIN crit ON crit.bucket_id = u.id
LEFT JOIN ppl ON ppl.bucket_id = u.id
LEFT JOIN adoption ON adoption.bucket_id = u.id
LEFT JOIN spend ON spend.bucket_id = u.id
LEFT JOIN tree ON tree.bucket_id = u.id
WHERE u.id = ANY(%(units)s)
ORDER BY u.name
"""

# The ``/*probe*/`` ends the EXISTS asked per member (trained). Left empty, PostgreSQL
# may answer it by hashing the whole completions table once, cheapest for the whole
# portfolio; as ``OFFSET 0`` it cannot, and probes the table's index for each member in
# scope instead, cheapest when the scope is a unit or a lead's few units. The figures are
# the same.
PROBE = "OFFSET 0"


def _pct(part: Part) -> int | None:
    share = part.share
    return None if share is None else int((share * 100).to_integral_value())


def _mean(values) -> int | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known)) if known else None


def _build(r: dict) -> Scorecard:
    uid = r["unit_id"]
    listing = reverse("initiative_list") + f"?business_unit={uid}"
    gates = (
        reverse("governance:gate_review_list") if _has_url("governance:gate_review_list") else ""
    )
    aligned = Part("Active initiatives linked to an objective", r["aligned"], r["active"], listing)
    production = listing + "&stage=initial_production"
    controls = (
        reverse("governance:attestation_list") if _has_url("governance:attestation_list") else ""
    )
    infra_att, infra_req = r["controls"].get(Dimension.INFRASTRUCTURE, (0, 0))
    sec_att, sec_req = r["controls"].get(Dimension.SECURITY_GOVERNANCE, (0, 0))
    infra = [
        Part(
            "Production initiatives with a model version in production",
            r["deployed"],
            r["production"],
            production,
        ),
        Part(
            "Production initiatives whose model was revalidated within its retraining interval",
            r["retrained"],
            r["production"],
            production,
        ),
        Part(
            "Production initiatives monitored (an operational KPI measured in 60 days)",
            r["monitored"],
            r["production"],
            production,
        ),
        Part("Infrastructure controls attested", infra_att, infra_req, controls),
        Part("Infrastructure gate criteria met", r["infra_met"], r["infra_total"], gates),
    ]
    sec = [
        Part(
            "Controls required of active initiatives that are attested",
            sec_att,
            sec_req,
            controls,
        ),
        Part(
            "Active initiatives with a current risk assessment (review not overdue)",
            r["assessed"],
            r["active"],
            listing,
        ),
        Part("Security and governance gate criteria met", r["sec_met"], r["sec_total"], gates),
    ]
    trained = Part(
        f"People of the unit trained ({r['completions']} completions)",
        r["trained"],
        r["members"],
        reverse("unit_detail", args=[uid]),
    )
    adopted = Part(
        "Users active among those eligible (production initiatives)",
        r["active_users"],
        r["eligible"],
        listing + "&stage=initial_production",
    )
    operational = Part(
        "Operational share of the production initiatives' spend, last 12 months",
        int(r["spend_operational"]),
        int(r["spend_total"]),
        reverse("finance:spend_list") + f"?business_unit={uid}&kind=operational"
        if _has_url("finance:spend_list")
        else "",
        currency=settings.REPORTING_CURRENCY,
    )
    measured = Part(
        "Active initiatives with a business KPI and a baseline", r["measured"], r["active"], listing
    )
    staffed = Part(
        "Active initiatives with requirements owner, operator and accountable executive",
        r["staffed"],
        r["active"],
        listing,
    )
    depth = Part(
        "Integration of production initiatives (points of 3 each)",
        r["depth_points"],
        3 * r["production"],
        listing + "&stage=initial_production",
    )
    labels = dict(Dimension.choices)
    D = Dimension
    dims = [
        (D.STRATEGIC_ALIGNMENT, _pct(aligned), [aligned]),
        (D.INFRASTRUCTURE, _mean([_pct(p) for p in infra]), infra),
        (D.SECURITY_GOVERNANCE, _mean([_pct(p) for p in sec]), sec),
        (D.CULTURE_ADOPTION, _mean([_pct(trained), _pct(adopted)]), [trained, adopted]),
        (D.FINANCIAL_MODEL, _pct(operational), [operational]),
        (D.MEASUREMENT, _pct(measured), [measured]),
        (D.ORGANISATIONAL_STRUCTURE, _pct(staffed), [staffed]),
        (D.INTEGRATION_DEPTH, _pct(depth), [depth]),
    ]
    return Scorecard(
        unit_id=uid,
        unit_name=r["unit_name"],
        dimensions=[
            DimensionScore(dimension=d.value, label=labels[d], score=score, parts=parts)
            for d, score, parts in dims
        ],
    )


def _has_url(name: str) -> bool:
    from django.urls import NoReverseMatch

    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True


def _months_back(day, months: int):
    import datetime as dt

    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def controls_by_unit(unit_ids, *, today=None) -> dict[int, dict[str, tuple[int, int]]]:
    """Per unit (its own initiatives, not its children's): for each dimension, (attested,
    required) controls of its active initiatives. A control is required of an initiative
    when ``governance.models.control_applies`` (tiers and source) says so and the
    initiative has reached the control's ``applies_from_stage``; attested means attested
    and not expired, or marked not applicable.

    Required controls depend only on an initiative's tier, source and stage, so they are
    counted once per such group, not once per initiative: one query groups the active
    initiatives (a few hundred groups however many initiatives), one asks the rule for
    every (tier, source) seen, by dimension and starting stage; attested ones are
    counted from the valid attestations of the units' active initiatives (one query).
    Three queries, none when there is no active initiative."""

    from django.db.models import Count

    from portfolio import crossapp
    from portfolio.choices import STAGE_ORDER
    from portfolio.models import Initiative

    today = today or timezone.localdate()
    dims = [Dimension.INFRASTRUCTURE.value, Dimension.SECURITY_GOVERNANCE.value]
    groups = list(
        Initiative.objects.filter(business_unit_id__in=list(unit_ids), stage__in=ACTIVE)
        .exclude(status=Initiative.Status.CLOSED)
        .order_by()
        .values("business_unit_id", "risk_tier", "source", "stage")
        .annotate(n=Count("pk"))
    )
    if not groups:
        return {}
    combos = sorted({(g["risk_tier"], g["source"]) for g in groups})
    # (dimension, starting stage) -> {(tier, source): controls that apply}.
    applying = crossapp.controls_applying_by_dimension(combos, dimensions=dims)
    required: dict[tuple[int, str], int] = {}
    for g in groups:
        rank = STAGE_ORDER[g["stage"]]
        combo = (g["risk_tier"], g["source"])
        for (dim, from_stage), counts in applying.items():
            if STAGE_ORDER.get(from_stage, 99) <= rank:
                key = (g["business_unit_id"], dim)
                required[key] = required.get(key, 0) + g["n"] * counts[combo]
    attested_by = crossapp.attested_controls_by_unit(
        unit_ids, stages=ACTIVE, today=today, dimensions=dims
    )
    out: dict[int, dict[str, tuple[int, int]]] = {}
    for unit in {g["business_unit_id"] for g in groups}:
        out[unit] = {d: (attested_by.get((unit, d), 0), required.get((unit, d), 0)) for d in dims}
    return out


def scorecards(unit_ids: list[int], *, today=None, narrow: bool = False) -> list[Scorecard]:
    """Scorecards of ``unit_ids`` (each with its child units), by unit name. The caller
    decides which units the user may see (``BusinessUnit.objects.visible_to``). Four
    queries (three for the controls, through governance's rule of which controls apply).
    ``narrow``: the units are a small part of the portfolio (one unit, a lead's units), so
    each initiative's records are probed by index rather than whole tables hashed
    (``PROBE``); the same figures either way."""
    if not unit_ids:
        return []
    today = today or timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute(
            SQL.replace("/*probe*/", PROBE) if narrow else SQL,
            {
                "units": list(unit_ids),
                "active": ACTIVE,
                "production": PRODUCTION,
                "roles": KEY_ROLES,
                "nroles": len(KEY_ROLES),
                "today": today,
                "monitored_since": today - _dt.timedelta(days=60),
                "spend_since": _months_back(today, 11),
            },
        )
        cols = [c.name for c in cursor.description]
        rows = [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]
    every_unit = {u for r in rows for u in (r["unit_ids"] or [])}
    by_unit = controls_by_unit(every_unit, today=today)
    for r in rows:
        totals: dict[str, tuple[int, int]] = {}
        for unit in r["unit_ids"] or []:
            for dim, (att, req) in by_unit.get(unit, {}).items():
                a, q = totals.get(dim, (0, 0))
                totals[dim] = (a + att, q + req)
        r["controls"] = totals
    return [_build(r) for r in rows]


def top_visible_unit_ids(user) -> list[int]:
    """The heads of the user's visible unit tree: top-level units for global roles, the
    granted units for a unit lead (their children roll up into them). One query."""
    from people.models import BusinessUnit

    visible = BusinessUnit.objects.visible_to(user)
    return list(
        visible.exclude(parent_id__in=visible.values("pk"))
        .order_by("name")
        .values_list("pk", flat=True)
    )


def snapshot_take(*, month=None) -> int:
    """Store this month's scores of every unit (each with its children): the trend. Safe to
    run again in the same month (the month's row is replaced). Six queries (the
    scorecards' four, the units, the write)."""
    import datetime as dt

    from django.utils import timezone

    from people.models import BusinessUnit
    from portfolio.models import ScorecardSnapshot

    day = month or timezone.localdate()
    month_start = dt.date(day.year, day.month, 1)
    cards = scorecards(list(BusinessUnit.objects.values_list("pk", flat=True)))
    rows = [
        ScorecardSnapshot(business_unit_id=c.unit_id, month=month_start, scores=c.as_scores())
        for c in cards
    ]
    ScorecardSnapshot.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["business_unit", "month"],
        update_fields=["scores", "updated_at"],
    )
    return len(rows)
