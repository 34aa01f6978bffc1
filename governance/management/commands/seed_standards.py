"""Load (or refresh) the default shared gate standards and controls. Idempotent: rows
are matched by code, so re-running updates them and never duplicates; standards the
PMO added themselves are left alone."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from governance.checks import MANUAL, RULES
from governance.models import Control, Standard
from portfolio.choices import Dimension as D
from portfolio.choices import Stage as S

HIGH = ["high"]
PROD = S.INITIAL_PRODUCTION
SCALED = S.SCALED_DEPLOYMENT
INST = S.INSTITUTIONAL

# code, name, dimension, target stage, tiers ([] = all), mandatory, rule, description
STANDARDS = [
    # Leaving proof of concept: the gate most pilots stall at.
    (
        "POC-STRAT-1",
        "Linked to a strategic objective",
        D.STRATEGIC_ALIGNMENT,
        PROD,
        [],
        True,
        "objective_linked",
        "The initiative states which strategic objective it serves.",
    ),
    (
        "POC-MEAS-1",
        "Business KPI with a baseline",
        D.MEASUREMENT,
        PROD,
        [],
        True,
        "business_kpi_baseline",
        "At least one business KPI (time saved, cost, revenue, ...) with a measured baseline, so value can be proven.",
    ),
    (
        "POC-ORG-1",
        "Named requirements owner",
        D.ORGANISATIONAL_STRUCTURE,
        PROD,
        [],
        True,
        "requirements_owner",
        "A business owner accountable for what the system must do.",
    ),
    (
        "POC-ORG-2",
        "Named operator",
        D.ORGANISATIONAL_STRUCTURE,
        PROD,
        [],
        True,
        "named_operator",
        "Someone runs it in production: on-call, changes, users' questions.",
    ),
    (
        "POC-FIN-1",
        "Approved operational budget",
        D.FINANCIAL_MODEL,
        PROD,
        [],
        True,
        "approved_operational_budget",
        "Recurring run costs are funded: an approved operational budget line.",
    ),
    (
        "POC-SEC-0",
        "Not a prohibited practice",
        D.SECURITY_GOVERNANCE,
        PROD,
        [],
        True,
        "not_prohibited",
        "EU AI Act Article 5 practices never go to production.",
    ),
    (
        "POC-SEC-1",
        "Current risk assessment",
        D.SECURITY_GOVERNANCE,
        PROD,
        [],
        True,
        "risk_assessment_current",
        "EU AI Act tier and US high-impact classification assessed and in date.",
    ),
    (
        "POC-SEC-2",
        "Required controls attested",
        D.SECURITY_GOVERNANCE,
        PROD,
        [],
        True,
        "controls_attested",
        "Every control the tier requires for production has evidence and has not expired.",
    ),
    (
        "POC-SEC-3",
        "Fairness audit passed",
        D.SECURITY_GOVERNANCE,
        PROD,
        HIGH,
        True,
        "fairness_audit_passed",
        "High-risk systems: outcomes compared across protected groups, audit passed.",
    ),
    (
        "POC-SEC-4",
        "Explainability and appeal route",
        D.SECURITY_GOVERNANCE,
        PROD,
        HIGH,
        True,
        "explainability_with_appeal",
        "High-risk systems: how it decides, its limits, and how people appeal or reach a human.",
    ),
    (
        "POC-INF-1",
        "Model version in staging",
        D.INFRASTRUCTURE,
        PROD,
        [],
        False,
        "model_version_staged",
        "A versioned model with lineage has reached staging (advisory for bought products).",
    ),
    (
        "POC-INT-1",
        "Integration plan agreed",
        D.INTEGRATION_DEPTH,
        PROD,
        [],
        True,
        MANUAL,
        "Which business system and workflow it plugs into, agreed with the system's owner.",
    ),
    (
        "POC-CUL-1",
        "User training and change plan",
        D.CULTURE_ADOPTION,
        PROD,
        [],
        False,
        MANUAL,
        "How the people who will use it learn to, and who supports them.",
    ),
    # Scaling out.
    (
        "SCALE-STRAT-1",
        "Scaling case endorsed by the accountable executive",
        D.STRATEGIC_ALIGNMENT,
        SCALED,
        [],
        True,
        MANUAL,
        "The value shown so far justifies wider roll-out.",
    ),
    (
        "SCALE-MEAS-1",
        "Business KPI measured recently",
        D.MEASUREMENT,
        SCALED,
        [],
        True,
        "business_kpi_measured",
        "Value is being measured, not assumed: a business KPI measured in the last 120 days.",
    ),
    (
        "SCALE-INF-1",
        "Automated retraining",
        D.INFRASTRUCTURE,
        SCALED,
        [],
        True,
        "automated_retraining",
        "The production model has a retraining interval (a pipeline, not a person).",
    ),
    (
        "SCALE-INF-2",
        "Monitoring in place",
        D.INFRASTRUCTURE,
        SCALED,
        [],
        True,
        "monitoring_in_place",
        "Operational KPIs (uptime, latency, adoption) measured in the last 60 days.",
    ),
    (
        "SCALE-FIN-1",
        "Operational spend tracked",
        D.FINANCIAL_MODEL,
        SCALED,
        [],
        True,
        "operational_spend_tracked",
        "Run costs are posted against the initiative.",
    ),
    (
        "SCALE-CUL-1",
        "Adoption measured",
        D.CULTURE_ADOPTION,
        SCALED,
        [],
        True,
        "adoption_measured",
        "Eligible and active users are counted.",
    ),
    (
        "SCALE-INT-1",
        "Embedded in a workflow",
        D.INTEGRATION_DEPTH,
        SCALED,
        [],
        True,
        "embedded_in_workflow",
        "Used inside the business workflow or acting automatically, not as a side tool.",
    ),
    (
        "SCALE-ORG-1",
        "Accountable executive named",
        D.ORGANISATIONAL_STRUCTURE,
        SCALED,
        [],
        True,
        "accountable_executive",
        "An executive answers for the outcome at scale.",
    ),
    (
        "SCALE-SEC-1",
        "Current risk assessment",
        D.SECURITY_GOVERNANCE,
        SCALED,
        [],
        True,
        "risk_assessment_current",
        "Reassessed for the wider use.",
    ),
    (
        "SCALE-SEC-2",
        "Required controls attested",
        D.SECURITY_GOVERNANCE,
        SCALED,
        [],
        True,
        "controls_attested",
        "Including the controls required from scaled deployment on.",
    ),
    (
        "SCALE-SEC-3",
        "Fairness audit passed",
        D.SECURITY_GOVERNANCE,
        SCALED,
        HIGH,
        True,
        "fairness_audit_passed",
        "High-risk systems keep a passed fairness audit.",
    ),
    # Becoming institutional.
    (
        "INST-ORG-1",
        "Owned by line operations",
        D.ORGANISATIONAL_STRUCTURE,
        INST,
        [],
        True,
        MANUAL,
        "Run and funded as part of normal operations, not as a project.",
    ),
    (
        "INST-FIN-1",
        "Approved operational budget",
        D.FINANCIAL_MODEL,
        INST,
        [],
        True,
        "approved_operational_budget",
        "Recurring funding in the unit's budget.",
    ),
    (
        "INST-MEAS-1",
        "Business KPI measured recently",
        D.MEASUREMENT,
        INST,
        [],
        True,
        "business_kpi_measured",
        "Value still measured.",
    ),
    (
        "INST-SEC-1",
        "Required controls attested",
        D.SECURITY_GOVERNANCE,
        INST,
        [],
        True,
        "controls_attested",
        "All controls in date.",
    ),  # The institutional gate covers all eight dimensions of scaling.
    (
        "INST-STRAT-1",
        "Still serves a strategic objective",
        D.STRATEGIC_ALIGNMENT,
        INST,
        [],
        True,
        "objective_linked",
        "The objective it serves is still named; institutions are not kept for their own sake.",
    ),
    (
        "INST-INF-1",
        "Monitored in operation",
        D.INFRASTRUCTURE,
        INST,
        [],
        True,
        "monitoring_in_place",
        "Uptime, latency or adoption measured in the last 60 days.",
    ),
    (
        "INST-CUL-1",
        "Adopted by its users",
        D.CULTURE_ADOPTION,
        INST,
        [],
        True,
        "adoption_measured",
        "Active users measured: the organisation uses it.",
    ),
    (
        "INST-INT-1",
        "Embedded in the business workflow",
        D.INTEGRATION_DEPTH,
        INST,
        [],
        True,
        "embedded_in_workflow",
        "An integration point embeds it in a workflow or automates an action.",
    ),
    (
        "INST-SEC-2",
        "Fairness audit passed (high risk)",
        D.SECURITY_GOVERNANCE,
        INST,
        HIGH,
        True,
        "fairness_audit_passed",
        "High-risk systems keep a passed fairness audit of the version in production.",
    ),
]

# code, name, tiers, from stage, validity days, standard code, description
CONTROLS = [
    (
        "CTL-HUMAN",
        "Human oversight",
        ["high"],
        PROD,
        365,
        "POC-SEC-2",
        "A person can monitor, override and stop the system.",
    ),
    (
        "CTL-LOG",
        "Logging and traceability",
        ["high"],
        PROD,
        365,
        "POC-SEC-2",
        "Inputs, outputs and versions are logged to reconstruct any decision.",
    ),
    (
        "CTL-DATA",
        "Data governance and quality",
        ["high"],
        PROD,
        365,
        "POC-SEC-2",
        "Training and input data are documented, representative and checked for errors.",
    ),
    (
        "CTL-ROBUST",
        "Accuracy, robustness and cybersecurity testing",
        ["high"],
        PROD,
        365,
        "POC-SEC-2",
        "Tested against errors, attacks and drift before release.",
    ),
    (
        "CTL-TRANSP",
        "Transparency to users",
        ["high", "limited"],
        PROD,
        365,
        "POC-SEC-2",
        "People are told they are dealing with an AI system or AI-generated content.",
    ),
    (
        "CTL-ACCESS",
        "Access control and secrets management",
        [],
        SCALED,
        365,
        "SCALE-SEC-2",
        "Least-privilege access to the system, its data and its keys.",
    ),
    (
        "CTL-IR",
        "Incident response runbook",
        [],
        SCALED,
        365,
        "SCALE-SEC-2",
        "Who is paged, how to roll back, how incidents are reviewed.",
    ),
]


class Command(BaseCommand):
    help = "Create or update the default shared gate standards and controls (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        created = updated = 0
        for code, name, dim, stage, tiers, mandatory, rule, desc in STANDARDS:
            assert rule == MANUAL or rule in RULES, rule
            _, was_created = Standard.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "dimension": dim,
                    "target_stage": stage,
                    "applies_to_tiers": tiers,
                    "mandatory": mandatory,
                    "check_rule": rule,
                    "description": desc,
                    "active": True,
                },
            )
            created += was_created
            updated += not was_created
        standards = {s.code: s for s in Standard.objects.all()}
        for code, name, tiers, stage, days, std, desc in CONTROLS:
            _, was_created = Control.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "applies_to_tiers": tiers,
                    "applies_from_stage": stage,
                    "validity_days": days,
                    "standard": standards.get(std),
                    "description": desc,
                    "source": "",  # the organisation's own: applies to every unit
                },
            )
            created += was_created
            updated += not was_created
        self.stdout.write(f"Standards and controls: {created} created, {updated} updated.")
        if options.get("verbosity", 1) > 1:
            for code, name, dim, stage, tiers, *_ in STANDARDS:
                self.stdout.write(
                    f"  {code}: {name} [{dim.label}; {S(stage).label}; "
                    f"{', '.join(tiers) or 'all tiers'}]"
                )
