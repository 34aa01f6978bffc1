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
    """Every EXISTS of the per-initiative counts carries the probe marker; a lead's heatmap
    and any unit's scorecard run the narrow form (OFFSET 0: no whole-table hash), the
    PMO's heatmap the wide one."""
    from portfolio import scorecard

    assert scorecard.SQL.count("/*probe*/") == scorecard.SQL.count("EXISTS (") == 7
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
    assert main_query(pmo, unit).count("OFFSET 0") == 7
