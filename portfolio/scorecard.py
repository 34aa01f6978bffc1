"""The scaling scorecard: for each business unit (with its child units), a score from 0 to
100 on each of the eight dimensions of scaling, computed from the records, each with the
parts it is made of.

- strategic alignment: active initiatives linked to a strategic objective;
- infrastructure, security and governance: gate criteria of that dimension met, over every
  gate review of the unit (the checklists' snapshots);
- culture and adoption: people of the unit trained (at least one completion) and users
  active among those eligible on the production initiatives' latest adoption snapshot
  (the two averaged: training beside adoption);
- financial model: production initiatives with an approved operational budget;
- measurement: active initiatives with a business KPI that has a baseline;
- organisational structure: active initiatives with a requirements owner, an operator and an
  accountable executive named;
- integration depth: production initiatives' integration, standalone 0 to automated 100.

One query for any number of units (a recursive unit tree, aggregates per unit). Composed in
portfolio because it reads finance's budgets and governance's gate criteria (by table, in
SQL: no import of either app).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.urls import reverse

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
    SELECT bucket_id,
        COUNT(*) AS active,
        COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM portfolio_initiative_objectives o
                                       WHERE o.initiative_id = ini.id)) AS aligned,
        COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM portfolio_kpi k
                                       WHERE k.initiative_id = ini.id AND k.kind = 'business'
                                         AND k.baseline_value IS NOT NULL)) AS measured,
        COUNT(*) FILTER (WHERE (SELECT COUNT(DISTINCT a.role) FROM portfolio_assignment a
                                WHERE a.initiative_id = ini.id
                                  AND a.role = ANY(%(roles)s)) = %(nroles)s) AS staffed,
        COUNT(*) FILTER (WHERE stage = ANY(%(production)s)) AS production,
        COUNT(*) FILTER (WHERE stage = ANY(%(production)s) AND EXISTS (
            SELECT 1 FROM finance_budget bu WHERE bu.initiative_id = ini.id
              AND bu.kind = 'operational' AND bu.status = 'approved')) AS funded,
        COALESCE(SUM(CASE integration_depth WHEN 'on_request' THEN 1 WHEN 'embedded' THEN 2
                      WHEN 'automated' THEN 3 ELSE 0 END)
                 FILTER (WHERE stage = ANY(%(production)s)), 0) AS depth_points
    FROM ini GROUP BY bucket_id
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
            SELECT 1 FROM people_trainingcompletion t WHERE t.user_id = m.user_id)) AS trained,
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
)
SELECT u.id AS unit_id, u.name AS unit_name,
       COALESCE(s.active, 0) AS active, COALESCE(s.aligned, 0) AS aligned,
       COALESCE(s.measured, 0) AS measured, COALESCE(s.staffed, 0) AS staffed,
       COALESCE(s.production, 0) AS production, COALESCE(s.funded, 0) AS funded,
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
WHERE u.id = ANY(%(units)s)
ORDER BY u.name
"""


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
    infra = Part("Infrastructure gate criteria met", r["infra_met"], r["infra_total"], gates)
    sec = Part("Security and governance gate criteria met", r["sec_met"], r["sec_total"], gates)
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
    funded = Part(
        "Production initiatives with an approved operational budget",
        r["funded"],
        r["production"],
        listing + "&stage=initial_production",
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
        (D.INFRASTRUCTURE, _pct(infra), [infra]),
        (D.SECURITY_GOVERNANCE, _pct(sec), [sec]),
        (D.CULTURE_ADOPTION, _mean([_pct(trained), _pct(adopted)]), [trained, adopted]),
        (D.FINANCIAL_MODEL, _pct(funded), [funded]),
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


def scorecards(unit_ids: list[int]) -> list[Scorecard]:
    """Scorecards of ``unit_ids`` (each with its child units), by unit name. The caller
    decides which units the user may see (``BusinessUnit.objects.visible_to``). One query."""
    if not unit_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            SQL,
            {
                "units": list(unit_ids),
                "active": ACTIVE,
                "production": PRODUCTION,
                "roles": KEY_ROLES,
                "nroles": len(KEY_ROLES),
            },
        )
        cols = [c.name for c in cursor.description]
        rows = [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]
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
    run again in the same month (the month's row is replaced). Two queries."""
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
