"""The demo organisation's money and governance records, and its stall story: the parts
of ``manage.py seed_demo`` that write ``finance`` and ``governance`` rows (lazy imports,
as everywhere in ``portfolio.crossapp``).

Each function takes the running ``seed_demo`` command (``cmd``): its random generator
(``cmd.rng``, so the demo stays deterministic: call them in the command's order), its
day (``cmd.today``, ``cmd.now``), the demo users and units it has created and the
initiatives (``cmd.initiatives``).

The stall story (issue 14), told after the portfolio is built:

- stalled pilots have stall reviews: some overdue (escalated to the accountable executive
  or the PMO by the same chase the periodic task runs), some due soon;
- past kills came out of stall reviews, so decision times (median, p90) per unit exist;
- salvaged assets of some kills were reused by live initiatives (linked);
- this month's scaling scorecard snapshot is stored.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model

from people.audit import acting_as
from people.models import UnitMembership
from portfolio.choices import Stage
from portfolio.models import Initiative, StageTransition
from portfolio.scorecard import snapshot_take


def seed_exchange_rates(cmd, *, rates: dict[str, Decimal], months: list[date]) -> None:
    """Monthly rates for ``months`` of every currency in ``rates`` but the reporting one,
    each drifting a little around its rate."""
    from finance.models import ExchangeRate

    out = []
    for currency, rate in rates.items():
        if currency == settings.REPORTING_CURRENCY:
            continue
        for month in months:
            drift = Decimal(cmd.rng.randint(-20, 20)) / Decimal(1000)
            out.append(ExchangeRate(currency=currency, valid_from=month, rate=rate + drift * rate))
    ExchangeRate.objects.bulk_create(out)


def seed_money(cmd, *, months: list[date]) -> None:
    """This year's budget lines of every initiative (some awaiting approval) and monthly
    ERP postings over ``months``: operational money once live, none after a kill, less
    once stalled, some lines over budget."""
    from finance.models import Budget, CostCategory, CostKind, SpendEntry

    rng = cmd.rng
    year = cmd.today.year
    budgets, spend = [], []
    ref = 0
    for initiative in cmd.initiatives:
        slug = initiative.business_unit.slug
        currency = cmd.unit_currency[slug]
        owner = cmd.staff[slug][0]
        live = initiative.stage in (
            Stage.INITIAL_PRODUCTION,
            Stage.SCALED_DEPLOYMENT,
            Stage.INSTITUTIONAL,
        )
        scale = {Stage.SCALED_DEPLOYMENT: 3, Stage.INSTITUTIONAL: 4}.get(initiative.stage, 1)
        one_time = Decimal(rng.randint(8, 30) * 10000)
        lines = [
            (CostKind.ONE_TIME, CostCategory.PERSONNEL, one_time),
            (CostKind.ONE_TIME, CostCategory.COMPUTE, one_time / 3),
        ]
        if live:
            lines += [
                (
                    CostKind.OPERATIONAL,
                    CostCategory.COMPUTE,
                    Decimal(rng.randint(5, 15) * 10000 * scale),
                ),
                (
                    CostKind.OPERATIONAL,
                    CostCategory.VENDOR,
                    Decimal(rng.randint(3, 9) * 10000 * scale),
                ),
                (
                    CostKind.OPERATIONAL,
                    CostCategory.TOOLING,
                    Decimal(rng.randint(1, 4) * 10000),
                ),
            ]
        if initiative.risk_tier == "high":
            lines.append(
                (
                    CostKind.OPERATIONAL if live else CostKind.ONE_TIME,
                    CostCategory.SECURITY,
                    Decimal(rng.randint(2, 6) * 10000),
                )
            )
        for k, (kind, category, amount) in enumerate(lines):
            pending = (
                initiative.stage in (Stage.PROOF_OF_CONCEPT, Stage.INITIAL_PRODUCTION)
                and k == len(lines) - 1
                and rng.random() < 0.35
            )
            if initiative.stage in (Stage.KILLED, Stage.RETIRED) and kind == CostKind.OPERATIONAL:
                continue
            budgets.append(
                Budget(
                    initiative=initiative,
                    business_unit_id=initiative.business_unit_id,
                    fiscal_year=year,
                    kind=kind,
                    category=category,
                    amount=amount.quantize(Decimal("1")),
                    currency=currency,
                    status=Budget.Status.REQUESTED if pending else Budget.Status.APPROVED,
                    justification="Run the service for the year at current adoption."
                    if kind == CostKind.OPERATIONAL
                    else "Build and pilot.",
                    requested_by=owner,
                    requested_at=cmd.now - timedelta(days=rng.randint(5, 300)),
                    approved_by=None if pending else cmd.finance,
                    decided_at=None if pending else cmd.now - timedelta(days=rng.randint(1, 290)),
                )
            )
            if pending:
                continue
            # Monthly postings; operational money starts once the initiative is live.
            overspend = Decimal(str(rng.choice([0.7, 0.9, 1.0, 1.05, 1.3, 1.6])))
            for m, month in enumerate(months):
                if kind == CostKind.ONE_TIME and m > 6 and live:
                    continue
                if (
                    initiative.stage in (Stage.KILLED, Stage.RETIRED)
                    and month > initiative.stage_entered_at.date()
                ):
                    continue
                if getattr(initiative, "_stalled", False) and month > cmd.today - timedelta(
                    days=150
                ):
                    continue
                monthly = amount / 12 * overspend * Decimal(str(rng.uniform(0.85, 1.15)))
                ref += 1
                spend.append(
                    SpendEntry(
                        initiative=initiative,
                        business_unit_id=initiative.business_unit_id,
                        posted_on=month + timedelta(days=rng.randint(0, 25)),
                        kind=kind,
                        category=category,
                        amount=monthly.quantize(Decimal("0.01")),
                        currency=currency,
                        vendor={
                            "compute": "Azure",
                            "vendor": "OpenAI",
                            "tooling": "Datadog",
                            "security": "Protect AI",
                        }.get(category, "Internal"),
                        source="erp",
                        reference=f"ERP-{year}-{ref:06d}",
                    )
                )
    Budget.objects.bulk_create(budgets)
    SpendEntry.objects.bulk_create(spend, batch_size=2000)


def seed_governance(cmd) -> None:
    """Risk assessments (some overdue for review), control attestations of high-risk
    initiatives (with gaps and soon-expiring ones), fairness audits, AI systems with
    datasets and model versions (created by their operators), explainability records,
    incidents, and one open access review campaign for Retail."""
    from governance.models import (
        AccessReview,
        AccessReviewItem,
        AISystem,
        Control,
        ControlAttestation,
        Dataset,
        ExplainabilityRecord,
        FairnessAudit,
        Incident,
        ModelVersion,
        RiskAssessment,
    )

    rng = cmd.rng
    controls = list(Control.objects.all())
    systems, assessments, attestations, audits, explain, incidents = [], [], [], [], [], []
    for initiative in cmd.initiatives:
        unit_id = initiative.business_unit_id
        slug = initiative.business_unit.slug
        owner, operator, _ = cmd.staff[slug]
        overdue = rng.random() < 0.2
        assessments.append(
            RiskAssessment(
                initiative=initiative,
                business_unit_id=unit_id,
                eu_tier=initiative.risk_tier,
                us_high_impact=initiative.risk_tier == "high",
                us_justification="Affects access to credit or financial services."
                if initiative.risk_tier == "high"
                else "",
                status=RiskAssessment.Status.CURRENT,
                assessor=cmd.coe,
                assessed_on=cmd.today - timedelta(days=400 if overdue else rng.randint(20, 200)),
                next_review_due=cmd.today - timedelta(days=rng.randint(5, 40))
                if overdue
                else cmd.today + timedelta(days=rng.randint(30, 300)),
            )
        )
        live = initiative.stage in (
            Stage.INITIAL_PRODUCTION,
            Stage.SCALED_DEPLOYMENT,
            Stage.INSTITUTIONAL,
            Stage.RETIRED,
        )
        if initiative.risk_tier == "high" and controls:
            for control in controls:
                if control.applies_to_tiers and "high" not in control.applies_to_tiers:
                    continue
                if rng.random() < 0.3:
                    continue  # a governance gap
                expiring = rng.random() < 0.15
                attestations.append(
                    ControlAttestation(
                        initiative=initiative,
                        business_unit_id=unit_id,
                        control=control,
                        status=ControlAttestation.Status.ATTESTED,
                        evidence="Control test report and sign-off stored in the GRC tool.",
                        attested_by=cmd.coe,
                        attested_on=cmd.today - timedelta(days=300 if expiring else 60),
                        expires_on=cmd.today + timedelta(days=20 if expiring else 300),
                    )
                )
        if initiative.risk_tier == "high" and live:
            failed = rng.random() < 0.25
            audits.append(
                FairnessAudit(
                    initiative=initiative,
                    business_unit_id=unit_id,
                    protected_attributes=["age", "sex", "ethnicity"],
                    metrics={
                        "age": {"tpr_gap": 0.07 if failed else 0.02},
                        "sex": {"tpr_gap": 0.01},
                    },
                    result=FairnessAudit.Result.FAIL if failed else FairnessAudit.Result.PASS,
                    auditor=cmd.coe,
                    audited_on=cmd.today - timedelta(days=rng.randint(30, 200)),
                    remediation_plan="Reweight training data for the 60+ age band and re-audit."
                    if failed
                    else "",
                    remediation_due=cmd.today - timedelta(days=10) if failed else None,
                )
            )
        if live:
            systems.append(
                AISystem(
                    initiative=initiative,
                    business_unit_id=unit_id,
                    name=f"{initiative.name} model",
                    owner=operator,
                    vendor=""
                    if initiative.build_or_buy == "build"
                    else rng.choice(["OpenAI", "Anthropic", "Nuance", "Feedzai"]),
                )
            )
            explain.append(
                ExplainabilityRecord(
                    initiative=initiative,
                    business_unit_id=unit_id,
                    logic="Scores each case from its features; the top contributing features are shown to the reviewer.",
                    limitations="Not validated for business customers.",
                    intended_use="Decision support; a person takes the final decision.",
                    appeal_process="Customers can ask for a human review through the complaints channel.",
                    updated_by=owner,
                )
            )
    RiskAssessment.objects.bulk_create(assessments)
    ControlAttestation.objects.bulk_create(attestations)
    FairnessAudit.objects.bulk_create(audits)
    ExplainabilityRecord.objects.bulk_create(explain)
    AISystem.objects.bulk_create(systems)
    versions, datasets = [], []
    for system in AISystem.objects.select_related("initiative", "initiative__business_unit"):
        initiative = system.initiative
        owner, operator, analyst = cmd.staff[initiative.business_unit.slug]
        retired = initiative.stage == Stage.RETIRED
        datasets.append(
            Dataset(
                initiative=initiative,
                business_unit_id=system.business_unit_id,
                name=f"{initiative.name} training data",
                source_system="Enterprise data lake",
                contains_pii=bool(initiative.uses_pii),
                contains_demographics=bool(initiative.uses_demographics),
                steward=analyst,
            )
        )
        deployed = cmd.now - timedelta(days=rng.randint(60, 400))
        versions.append(
            ModelVersion(
                ai_system=system,
                business_unit_id=system.business_unit_id,
                version="1.0.0",
                status=ModelVersion.Status.RETIRED if retired else ModelVersion.Status.PRODUCTION,
                training_run_ref=f"mlflow://runs/{rng.getrandbits(40):010x}",
                parameters={"learning_rate": 0.05, "max_depth": 6},
                metrics={"auc": round(rng.uniform(0.82, 0.95), 3)},
                created_by=operator,
                approved_by=cmd.coe,
                deployed_at=deployed,
                retired_at=initiative.stage_entered_at if retired else None,
                retrain_interval_days=180,
                last_validated_at=deployed,
            )
        )
        if not retired:
            versions.append(
                ModelVersion(
                    ai_system=system,
                    business_unit_id=system.business_unit_id,
                    version="1.1.0",
                    status=ModelVersion.Status.STAGING,
                    training_run_ref=f"mlflow://runs/{rng.getrandbits(40):010x}",
                    parameters={"learning_rate": 0.03, "max_depth": 8},
                    metrics={"auc": round(rng.uniform(0.85, 0.96), 3)},
                    created_by=operator,
                )
            )
    Dataset.objects.bulk_create(datasets)
    # The trail records who created each version: the person named as its creator,
    # not the PMO the rest of the demo is loaded as (one statement per creator).
    by_creator: dict[int, list] = {}
    for version in versions:
        by_creator.setdefault(version.created_by.pk, []).append(version)
    for group in by_creator.values():
        with acting_as(group[0].created_by):
            ModelVersion.objects.bulk_create(group)
    live = [
        i
        for i in cmd.initiatives
        if i.stage in (Stage.INITIAL_PRODUCTION, Stage.SCALED_DEPLOYMENT, Stage.INSTITUTIONAL)
    ]
    for k, initiative in enumerate(rng.sample(live, min(9, len(live)))):
        severity = [
            "low",
            "medium",
            "medium",
            "high",
            "low",
            "critical",
            "medium",
            "low",
            "high",
        ][k]
        detected = cmd.now - timedelta(days=rng.randint(3, 120))
        resolved = k % 3 != 0
        incidents.append(
            Incident(
                initiative=initiative,
                business_unit_id=initiative.business_unit_id,
                title=[
                    "Model drift above threshold",
                    "Hallucinated policy answer",
                    "Latency spike",
                    "Biased outcomes reported",
                    "Prompt injection attempt",
                    "Wrong customer data shown",
                    "Vendor API outage",
                    "Stale features",
                    "Unexplained declines",
                ][k],
                description="Detected by monitoring; see the timeline.",
                severity=severity,
                status=Incident.Status.RESOLVED if resolved else Incident.Status.INVESTIGATING,
                detected_at=detected,
                resolved_at=detected + timedelta(hours=rng.randint(2, 96)) if resolved else None,
                escalation_level=3 if severity in ("high", "critical") else 1,
                escalation_path="Operator -> unit lead -> CoE -> CRO"
                if severity in ("high", "critical")
                else "Operator -> unit lead",
                timeline=[{"at": detected.isoformat(), "event": "Alert raised by monitoring"}],
                reported_by=cmd.staff[initiative.business_unit.slug][1],
                review_due=(detected + timedelta(days=14)).date()
                if severity in ("high", "critical", "medium")
                else None,
            )
        )
    Incident.objects.bulk_create(incidents)
    # One open access review campaign, for the Retail unit.
    unit = cmd.units["retail"]
    review = AccessReview.objects.create(
        business_unit=unit,
        name="Retail Banking Q4 access review",
        reviewer=cmd.leads["retail"],
        opened_on=cmd.today - timedelta(days=7),
        due_on=cmd.today + timedelta(days=14),
    )
    AccessReviewItem.objects.bulk_create(
        [
            AccessReviewItem(
                review=review, business_unit=unit, membership=m, user_id=m.user_id, role=m.role
            )
            for m in UnitMembership.objects.filter(business_unit=unit).exclude(
                user=cmd.leads["retail"]
            )
        ]
    )


def seed_cloud_bills(cmd) -> None:
    """A year of FOCUS cloud bills, imported and allocated as finance would."""
    from finance.focus.demo import seed_focus_demo

    seed_focus_demo(
        acting_user=get_user_model().objects.get(username="finance"),
        initiatives=Initiative.objects.exclude(
            stage__in=["proof_of_concept", "killed", "retired"]
        ).order_by("code")[:15],
        today=cmd.today,
    )


def tell_the_stall_story(cmd) -> dict:
    from governance.models import GateReview
    from governance.services import gate_review_open_for_stall, stall_decisions_chase

    rng, today, now = cmd.rng, cmd.today, cmd.now
    story = {"overdue": 0, "due_soon": 0, "decided": 0, "reused": 0}

    # Past kills decided through a stall review: asked for N days before the decision.
    kills = list(
        StageTransition.objects.filter(decision__in=["kill", "retire"])
        .select_related("initiative")
        .order_by("decided_at")
    )
    reviews = []
    for t in kills:
        asked = t.decided_at - timedelta(days=rng.randint(6, 75))
        requester = cmd.coe if t.decided_by_id == cmd.pmo.pk else cmd.pmo
        reviews.append(
            GateReview(
                initiative_id=t.initiative_id,
                business_unit_id=t.business_unit_id,
                reason=GateReview.Reason.STALLED,
                from_stage=t.from_stage,
                target_stage=t.from_stage,
                status=GateReview.Status.DECIDED,
                requested_by=requester,
                requested_at=asked,
                request_note="Stalled: decide to advance, hold, pivot, kill or retire.",
                decision_due_on=(asked + timedelta(days=30)).date(),
                decision=t.decision,
                rationale=t.rationale,
                decided_by_id=t.decided_by_id,
                decided_at=t.decided_at,
                transition=t,
            )
        )
    with acting_as(cmd.pmo):
        GateReview.objects.bulk_create(reviews)
    story["decided"] = len(reviews)

    # What the kills left behind, reused by live initiatives of the same unit tree.
    live = list(
        Initiative.objects.filter(stage__in=["initial_production", "scaled_deployment"])
        .select_related("business_unit")
        .order_by("code")
    )
    for t in kills:
        if not t.salvaged:
            continue
        top = t.initiative.business_unit.parent_id or t.initiative.business_unit_id
        reuser = next(
            (i for i in live if (i.business_unit.parent_id or i.business_unit_id) == top), None
        )
        if reuser is not None:
            t.reused_by.add(reuser)
            story["reused"] += 1

    # Stalled pilots: ask for decisions; backdate some so their deadlines have passed.
    stalled = list(
        Initiative.objects.stalled(today=today)
        .filter(stage="proof_of_concept")
        .exclude(gate_reviews__status="open")
        .order_by("stage_entered_at")
    )
    for n, initiative in enumerate(stalled):
        review = gate_review_open_for_stall(acting_user=cmd.pmo, initiative=initiative)
        if n % 3 == 1:
            story["due_soon"] += 1
            continue  # asked recently: due in the policy's days
        asked_days_ago = rng.randint(40, 95)
        GateReview.objects.filter(pk=review.pk).update(
            requested_at=now - timedelta(days=asked_days_ago),
            decision_due_on=today - timedelta(days=asked_days_ago - 30),
        )
        story["overdue"] += 1
    stall_decisions_chase(today=today, send_email=False)
    snapshot_take(month=today)
    cmd.stdout.write(
        f"Stall story: {story['overdue']} overdue stall decisions, {story['due_soon']} due "
        f"soon, {story['decided']} decided, {story['reused']} salvaged assets reused."
    )
    return story
