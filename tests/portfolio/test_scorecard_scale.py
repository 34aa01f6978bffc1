"""Issue 15: the scorecard's control counts per unit are computed per (tier, source, stage)
group of initiatives, not per initiative. The same figures as asking governance's rule
initiative by initiative, on varied data; a fixed number of queries however many
initiatives, controls and attestations; a lead sees only their units' scorecard."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.models import Control, ControlAttestation
from portfolio.choices import STAGE_ORDER
from portfolio.models import Initiative
from portfolio.scorecard import controls_by_unit, scorecards
from tests import factories as f

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
DIMS = ("infrastructure", "security_governance")


def _oracle(unit_ids) -> dict[int, dict[str, tuple[int, int]]]:
    """Initiative by initiative, control by control, through governance's rule."""
    out: dict[int, dict[str, tuple[int, int]]] = {}
    active = Initiative.objects.filter(
        business_unit_id__in=unit_ids, stage__in=list(STAGE_ORDER)
    ).exclude(status="closed")
    for initiative in active:
        counts = out.setdefault(initiative.business_unit_id, dict.fromkeys(DIMS, (0, 0)))
        applicable = Control.objects.applicable(
            tier=initiative.risk_tier, source=initiative.source
        ).select_related("standard")
        for control in applicable:
            if STAGE_ORDER.get(control.applies_from_stage, 99) > STAGE_ORDER[initiative.stage]:
                continue
            dim = control.standard.dimension if control.standard else "security_governance"
            if dim not in DIMS:
                continue
            a = ControlAttestation.objects.filter(initiative=initiative, control=control).first()
            valid = a is not None and (
                a.status == "not_applicable"
                or a.status == "attested"
                and (a.expires_on is None or a.expires_on >= TODAY)
            )
            att, req = counts[dim]
            counts[dim] = (att + int(valid), req + 1)
    return out


@pytest.fixture
def varied(unit_a, unit_a_child, unit_b, lead_a):
    infra = f.StandardFactory(dimension="infrastructure")
    security = f.StandardFactory(dimension="security_governance")
    other = f.StandardFactory(dimension="measurement")
    controls = []
    for n, (tiers, source, stage, standard) in enumerate(
        itertools.product(
            ([], ["high"], ["high", "limited"], ["minimal"]),
            ("", "servicenow"),
            ("proof_of_concept", "initial_production", "scaled_deployment"),
            (None, infra, security, other),
        )
    ):
        if n % 3 == 0:  # a sample of every kind, not all 96
            controls.append(
                f.ControlFactory(
                    applies_to_tiers=tiers,
                    source=source,
                    applies_from_stage=stage,
                    standard=standard,
                )
            )
    statuses = [
        ("attested", TODAY + dt.timedelta(days=30)),
        ("attested", TODAY - dt.timedelta(days=1)),  # expired
        ("attested", None),
        ("not_applicable", None),
        ("in_progress", None),
        ("not_met", None),
    ]
    units = [unit_a, unit_a_child, unit_b]
    stages = ["proof_of_concept", "initial_production", "scaled_deployment", "institutional"]
    tiers = ["high", "limited", "minimal", "unassessed"]
    for n in range(24):
        initiative = f.InitiativeFactory(
            business_unit=units[n % 3],
            stage=stages[n % 4],
            risk_tier=tiers[(n // 2) % 4],
            source="servicenow" if n % 5 == 0 else "",
            status="closed" if n == 7 else "active",
        )
        for k, control in enumerate(controls):
            if (n + k) % 4 == 0:
                status, expires = statuses[(n + k) % len(statuses)]
                f.ControlAttestationFactory(
                    initiative=initiative, control=control, status=status, expires_on=expires
                )
    f.InitiativeFactory(business_unit=unit_b, stage="killed", risk_tier="high")
    return units


def test_control_counts_are_the_rules_initiative_by_initiative(varied):
    ids = [u.pk for u in varied]
    expected = _oracle(ids)
    assert any(req for counts in expected.values() for _, req in counts.values())
    assert any(att for counts in expected.values() for att, _ in counts.values())
    assert controls_by_unit(ids) == expected
    # One unit at a time gives that unit's figures.
    for unit in varied:
        assert controls_by_unit([unit.pk]) == {k: v for k, v in expected.items() if k == unit.pk}


def test_control_counts_with_no_active_initiative_or_no_control(unit_b):
    assert controls_by_unit([unit_b.pk]) == {}
    f.InitiativeFactory(business_unit=unit_b, stage="proof_of_concept")
    assert controls_by_unit([unit_b.pk]) == {unit_b.pk: dict.fromkeys(DIMS, (0, 0))}


def test_control_counts_take_three_queries_whatever_the_data(varied, django_assert_num_queries):
    ids = [u.pk for u in varied]
    with django_assert_num_queries(3):
        controls_by_unit(ids)
    for _ in range(10):
        initiative = f.InitiativeFactory(
            business_unit=varied[0], stage="initial_production", risk_tier="prohibited"
        )
        f.ControlAttestationFactory(initiative=initiative)
    with django_assert_num_queries(3):
        controls_by_unit(ids)


def test_scorecard_pages_queries_do_not_grow_and_leads_see_their_units_only(
    client, varied, pmo, lead_a, lead_b
):
    unit_a, unit_a_child, unit_b = varied

    def queries(user, url):
        client.force_login(user)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        return response, len(ctx.captured_queries)

    heatmap = reverse("scorecard")
    own = reverse("unit_scorecard", args=[unit_a.pk])
    _, pmo_before = queries(pmo, heatmap)
    _, lead_before = queries(lead_a, own)
    for n in range(15):
        initiative = f.InitiativeFactory(
            business_unit=varied[n % 3], stage="initial_production", risk_tier="high"
        )
        f.ControlAttestationFactory(initiative=initiative)
        f.SpendEntryFactory(initiative=initiative)
    response, pmo_after = queries(pmo, heatmap)
    assert pmo_after == pmo_before
    assert {c.unit_id for c in response.context["cards"]} >= {unit_a.pk, unit_b.pk}
    response, lead_after = queries(lead_a, own)
    assert lead_after == lead_before and response.status_code == 200
    # The heatmap of unit A's lead holds unit A (with its child rolled up), not unit B.
    response, _ = queries(lead_a, heatmap)
    assert [c.unit_id for c in response.context["cards"]] == [unit_a.pk]
    [card] = response.context["cards"]
    assert card.as_scores() == scorecards([unit_a.pk])[0].as_scores()
    # Unit B's lead gets a 404 for unit A's scorecard.
    response, _ = queries(lead_b, own)
    assert response.status_code == 404


def _with_records(varied, lead_a, member_a):
    """Records behind every part (objectives, KPIs, roles, models, measurements, risk
    assessments, spend) on some of the varied initiatives."""
    objective = f.ObjectiveFactory()
    today = timezone.localdate()
    for n, initiative in enumerate(Initiative.objects.filter(business_unit__in=varied)):
        if n % 2:
            initiative.objectives.add(objective)
        if n % 3 == 0:
            f.KPIFactory(initiative=initiative, kind="business", baseline_value=5)
        if n % 4 == 1:
            kpi = f.KPIFactory(initiative=initiative, kind="operational")
            f.MeasurementFactory(kpi=kpi, measured_on=today - dt.timedelta(days=10 + n))
        if n % 3 == 1:
            for role in ("requirements_owner", "operator", "accountable_executive"):
                f.AssignmentFactory(initiative=initiative, role=role, user=lead_a)
        if n % 2 == 0:
            system = f.AISystemFactory(initiative=initiative)
            f.ModelVersionFactory(
                ai_system=system,
                status="production",
                approved_by=member_a,
                retrain_interval_days=30 if n % 4 else None,
                last_validated_at=timezone.now() - dt.timedelta(days=10 * n),
            )
        if n % 5 == 0:
            f.RiskAssessmentFactory(initiative=initiative)
        f.SpendEntryFactory(initiative=initiative, posted_on=today - dt.timedelta(days=30 * n))


def test_narrow_scorecards_are_the_same_figures(varied, lead_a, member_a):
    _with_records(varied, lead_a, member_a)
    ids = [u.pk for u in varied]
    wide = scorecards(ids)
    assert wide == scorecards(ids, narrow=True)
    scores = [d.score for card in wide for d in card.dimensions]
    assert len([s for s in scores if s not in (None, 0)]) >= 8
    for unit in varied:
        assert scorecards([unit.pk], narrow=True) == scorecards([unit.pk])


def test_a_leads_and_a_units_scorecard_probe_per_initiative_the_pmos_heatmap_may_hash(
    client, varied, pmo, lead_a
):
    """Every EXISTS left in the query (the members' training: the per-initiative checks
    read the maintained facts) carries the probe marker; a lead's heatmap and any unit's
    scorecard run the narrow form (OFFSET 0: no whole-table hash), the PMO's heatmap the
    wide one."""
    from portfolio import scorecard

    assert scorecard.SQL.count("/*probe*/") == scorecard.SQL.count("EXISTS (") == 1
    assert "OFFSET 0" not in scorecard.SQL

    def main_query(user, url):
        client.force_login(user)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        [sql] = [q["sql"] for q in ctx.captured_queries if "WITH RECURSIVE buckets" in q["sql"]]
        return sql

    assert "OFFSET 0" in main_query(lead_a, reverse("scorecard"))
    assert "OFFSET 0" not in main_query(pmo, reverse("scorecard"))
    unit = reverse("unit_scorecard", args=[varied[0].pk])
    assert main_query(pmo, unit).count("OFFSET 0") == 1


# The scorecard's query before the per-initiative checks read the maintained facts
# (``InitiativeFacts``) and the spend read the stage rollup: verbatim, the oracle.
OLD_SQL = """
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
                                       WHERE o.initiative_id = ini.id /*probe*/)) AS aligned,
        COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM portfolio_kpi k
                                       WHERE k.initiative_id = ini.id AND k.kind = 'business'
                                         AND k.baseline_value IS NOT NULL /*probe*/))
            AS measured,
        COUNT(*) FILTER (WHERE (SELECT COUNT(DISTINCT a.role) FROM portfolio_assignment a
                                WHERE a.initiative_id = ini.id
                                  AND a.role = ANY(%(roles)s)) = %(nroles)s) AS staffed,
        COUNT(*) FILTER (WHERE stage = ANY(%(production)s)) AS production,
        COUNT(*) FILTER (WHERE stage = ANY(%(production)s) AND EXISTS (
            SELECT 1 FROM governance_aisystem sy
            JOIN governance_modelversion mv ON mv.ai_system_id = sy.id
            WHERE sy.initiative_id = ini.id AND mv.status = 'production' /*probe*/))
            AS deployed,
        COUNT(*) FILTER (WHERE stage = ANY(%(production)s) AND EXISTS (
            SELECT 1 FROM governance_aisystem sy
            JOIN governance_modelversion mv ON mv.ai_system_id = sy.id
            WHERE sy.initiative_id = ini.id AND mv.status = 'production'
              AND mv.retrain_interval_days IS NOT NULL
              AND mv.last_validated_at::date + mv.retrain_interval_days >= %(today)s
            /*probe*/)) AS retrained,
        COUNT(*) FILTER (WHERE stage = ANY(%(production)s) AND EXISTS (
            SELECT 1 FROM portfolio_kpi k
            WHERE k.initiative_id = ini.id AND k.kind = 'operational'
              AND k.last_measured_on >= %(monitored_since)s /*probe*/)) AS monitored,
        COUNT(*) FILTER (WHERE EXISTS (
            SELECT 1 FROM governance_riskassessment ra WHERE ra.initiative_id = ini.id
              AND ra.status IN ('current', 'reopened')
              AND (ra.next_review_due IS NULL OR ra.next_review_due >= %(today)s)
            /*probe*/)) AS assessed,
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
    SELECT ini.bucket_id,
           ROUND(SUM(r.operational)) AS operational,
           ROUND(SUM(r.one_time + r.operational)) AS total
    FROM finance_spendinitiativemonth r JOIN ini ON ini.id = r.initiative_id
    WHERE ini.stage = ANY(%(production)s) AND r.month >= %(spend_since)s
    GROUP BY ini.bucket_id
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


@pytest.mark.parametrize("days", [0, -45, 20, 75])
def test_scorecards_from_facts_and_rollups_equal_the_raw_records_query(
    varied, lead_a, member_a, days
):
    """The same counts and sums as the query that read the raw records, today and on
    other days (the date-dependent checks: monitored, revalidated, review not overdue),
    after edits that change each fact."""
    from governance.models import ModelVersion, RiskAssessment
    from portfolio import scorecard
    from portfolio.models import KPI, Assignment

    _with_records(varied, lead_a, member_a)
    # Edits after creation: a risk review dated, a model retired, a role removed, a KPI
    # changed kind, an initiative closed.
    ra = RiskAssessment.objects.first()
    ra.next_review_due = TODAY + dt.timedelta(days=10)
    ra.save()
    ModelVersion.objects.filter(pk=ModelVersion.objects.order_by("pk")[0].pk).update(
        status="retired"
    )
    Assignment.objects.filter(pk=Assignment.objects.order_by("pk")[0].pk).delete()
    KPI.objects.filter(pk=KPI.objects.order_by("pk")[0].pk).update(kind="operational")
    Initiative.objects.filter(pk=Initiative.objects.order_by("pk")[1].pk).update(status="closed")
    day = TODAY + dt.timedelta(days=days)
    params = {
        "units": [u.pk for u in varied],
        "active": scorecard.ACTIVE,
        "production": scorecard.PRODUCTION,
        "roles": scorecard.KEY_ROLES,
        "nroles": len(scorecard.KEY_ROLES),
        "today": day,
        "monitored_since": day - dt.timedelta(days=60),
        "spend_since": scorecard._months_back(day, 11),
    }

    def run(sql):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cols = [c.name for c in cursor.description]
            return [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]

    old, new = run(OLD_SQL), run(scorecard.SQL)
    assert new == old
    counted = {k for r in new for k, v in r.items() if not isinstance(v, (str, list)) and v}
    assert {"aligned", "measured", "staffed", "deployed", "spend_operational"} <= counted
    if days == 0:  # the data is dated so that today every date-dependent check counts
        assert {"retrained", "monitored", "assessed"} <= counted
