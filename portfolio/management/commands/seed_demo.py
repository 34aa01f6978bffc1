"""A believable demo organisation: units, people, ~60 initiatives at every stage, money,
outcomes and governance records. Deterministic (seeded), and fast (bulk writes)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from people.audit import acting_as
from people.models import (
    BusinessUnit,
    CenterOfExcellence,
    TrainingCompletion,
    TrainingProgram,
    UnitMembership,
    UnitRole,
)
from people.roles import AUDITOR, COE, FINANCE, PMO
from people.services import sync_membership_permissions
from portfolio.choices import (
    ACTIVE_STAGES,
    DEFAULT_STAGE_LIMIT_DAYS,
    IntegrationDepth,
    Stage,
)
from portfolio.crossapp import demo
from portfolio.models import (
    KPI,
    AdoptionSnapshot,
    Assignment,
    Initiative,
    IntegrationPoint,
    Measurement,
    Objective,
    StagePolicy,
    StageTransition,
)

User = get_user_model()

# (code, slug, name, parent slug, currency)
UNITS = [
    ("RET", "retail", "Retail Banking", None, "USD"),
    ("RET-CARDS", "cards", "Cards and Payments", "retail", "USD"),
    ("RET-MORT", "mortgages", "Mortgages", "retail", "USD"),
    ("CIB", "cib", "Corporate and Investment Banking", None, "USD"),
    ("CIB-MKT", "markets", "Markets", "cib", "EUR"),
    ("WLT", "wealth", "Wealth Management", None, "GBP"),
    ("OPS", "operations", "Operations", None, "USD"),
    ("OPS-CC", "contact-centre", "Contact Centre", "operations", "USD"),
    ("OPS-PROC", "procurement", "Procurement", "operations", "USD"),
    ("RSK", "risk", "Risk and Compliance", None, "USD"),
    ("TEC", "technology", "Technology", None, "USD"),
]

# (unit slug, name, problem, business KPI (name, category, unit, value per unit), tier)
CATALOGUE = [
    (
        "cards",
        "Card fraud scoring",
        "Fraud losses on card-not-present payments",
        ("Fraud losses avoided", "cost_reduced", "USD", 1),
        "high",
    ),
    (
        "cards",
        "Dispute letter drafting",
        "Agents write dispute letters by hand",
        ("Agent hours saved", "time_saved", "hours", 42),
        "minimal",
    ),
    (
        "cards",
        "Merchant category cleanup",
        "Mis-coded merchants distort spend insights",
        ("Records corrected", "new_capability", "records", None),
        "minimal",
    ),
    (
        "cards",
        "Chargeback triage",
        "Chargebacks queue for days",
        ("Analyst hours saved", "time_saved", "hours", 48),
        "limited",
    ),
    (
        "cards",
        "Rewards personalisation",
        "Generic offers get low uptake",
        ("Incremental revenue", "revenue", "USD", 1),
        "limited",
    ),
    (
        "mortgages",
        "Mortgage document extraction",
        "Underwriters re-key payslips and statements",
        ("Underwriter hours saved", "time_saved", "hours", 55),
        "high",
    ),
    (
        "mortgages",
        "Affordability pre-check",
        "Applicants drop out before a decision",
        ("Completed applications", "revenue", "applications", 310),
        "high",
    ),
    (
        "mortgages",
        "Valuation anomaly detection",
        "Outlier valuations slip through",
        ("Losses avoided", "risk_mitigated", "USD", 1),
        "limited",
    ),
    (
        "retail",
        "Branch staffing forecast",
        "Branches are over- or under-staffed",
        ("Staff hours saved", "time_saved", "hours", 38),
        "minimal",
    ),
    (
        "retail",
        "Customer churn early warning",
        "Attrition noticed only at account closure",
        ("Retained balances", "revenue", "USD", Decimal("0.02")),
        "limited",
    ),
    (
        "retail",
        "Complaint summarisation",
        "Complaints take long to read and route",
        ("Handler hours saved", "time_saved", "hours", 40),
        "limited",
    ),
    (
        "retail",
        "Next best action",
        "Advisers lack a next step for each customer",
        ("Product uptake", "revenue", "sales", 120),
        "limited",
    ),
    (
        "markets",
        "Trade surveillance copilot",
        "Surveillance alerts are mostly false positives",
        ("Alert review hours saved", "time_saved", "hours", 85),
        "high",
    ),
    (
        "markets",
        "Research summarisation",
        "Traders cannot read all research",
        ("Analyst hours saved", "time_saved", "hours", 90),
        "minimal",
    ),
    (
        "markets",
        "FX pricing assistant",
        "Quotes for illiquid pairs are slow",
        ("Quote time saved", "time_saved", "hours", 70),
        "limited",
    ),
    (
        "cib",
        "Credit memo drafting",
        "Credit memos take days to draft",
        ("Banker hours saved", "time_saved", "hours", 95),
        "limited",
    ),
    (
        "cib",
        "KYC entity resolution",
        "Duplicate client records slow onboarding",
        ("Onboarding days saved", "time_saved", "days", 600),
        "high",
    ),
    (
        "cib",
        "Covenant monitoring",
        "Covenant breaches are spotted late",
        ("Breaches caught early", "risk_mitigated", "cases", 25000),
        "limited",
    ),
    (
        "wealth",
        "Adviser meeting notes",
        "Advisers spend evenings on notes",
        ("Adviser hours saved", "time_saved", "hours", 75),
        "limited",
    ),
    (
        "wealth",
        "Portfolio drift alerts",
        "Client portfolios drift from mandate",
        ("Drift cases resolved", "risk_mitigated", "cases", 400),
        "limited",
    ),
    (
        "wealth",
        "Suitability check assistant",
        "Suitability reviews are inconsistent",
        ("Reviews completed", "risk_mitigated", "reviews", 150),
        "high",
    ),
    (
        "wealth",
        "Client newsletter generation",
        "Newsletters are generic",
        ("Open rate", "customer_satisfaction", "%", None),
        "minimal",
    ),
    (
        "contact-centre",
        "Call summarisation",
        "Agents type wrap-up notes after each call",
        ("Agent hours saved", "time_saved", "hours", 32),
        "limited",
    ),
    (
        "contact-centre",
        "Intent routing",
        "Callers are transferred several times",
        ("Transfers avoided", "cost_reduced", "calls", 6),
        "limited",
    ),
    (
        "contact-centre",
        "Agent assist knowledge search",
        "Agents search five systems for answers",
        ("Handle time saved", "time_saved", "hours", 32),
        "limited",
    ),
    (
        "contact-centre",
        "Voice biometrics",
        "Security questions annoy callers",
        ("Verification time saved", "time_saved", "hours", 32),
        "high",
    ),
    (
        "contact-centre",
        "Sentiment coaching",
        "Coaching is based on a few sampled calls",
        ("CSAT", "customer_satisfaction", "points", None),
        "limited",
    ),
    (
        "procurement",
        "Invoice matching",
        "Three-way matching is manual",
        ("Clerk hours saved", "time_saved", "hours", 35),
        "minimal",
    ),
    (
        "procurement",
        "Contract clause extraction",
        "Renewal terms are buried in PDFs",
        ("Savings captured", "cost_reduced", "USD", 1),
        "minimal",
    ),
    (
        "procurement",
        "Supplier risk signals",
        "Supplier failures surprise us",
        ("Incidents avoided", "risk_mitigated", "cases", 20000),
        "limited",
    ),
    (
        "operations",
        "Payment exception handling",
        "Failed payments are repaired by hand",
        ("Repairs automated", "cost_reduced", "payments", 9),
        "limited",
    ),
    (
        "operations",
        "Mail room classification",
        "Incoming post is sorted manually",
        ("Clerk hours saved", "time_saved", "hours", 30),
        "minimal",
    ),
    (
        "operations",
        "Reconciliation break prediction",
        "Breaks are investigated too late",
        ("Breaks avoided", "cost_reduced", "breaks", 140),
        "limited",
    ),
    (
        "risk",
        "AML alert triage",
        "Investigators drown in AML alerts",
        ("Investigator hours saved", "time_saved", "hours", 70),
        "high",
    ),
    (
        "risk",
        "Regulatory change tracker",
        "New rules are mapped to controls by hand",
        ("Analyst hours saved", "time_saved", "hours", 80),
        "limited",
    ),
    (
        "risk",
        "Model risk documentation",
        "Model documentation is late and inconsistent",
        ("Validator hours saved", "time_saved", "hours", 90),
        "minimal",
    ),
    (
        "risk",
        "Sanctions name screening",
        "Screening has high false positive rates",
        ("False positives avoided", "cost_reduced", "alerts", 12),
        "high",
    ),
    (
        "risk",
        "Credit loss forecasting",
        "Provisioning models are slow to update",
        ("Forecast error", "risk_mitigated", "% MAPE", None),
        "high",
    ),
    (
        "technology",
        "Developer copilot",
        "Engineers spend time on boilerplate",
        ("Engineer hours saved", "time_saved", "hours", 80),
        "minimal",
    ),
    (
        "technology",
        "Incident root-cause assistant",
        "Outages take long to diagnose",
        ("Downtime minutes avoided", "cost_reduced", "minutes", 900),
        "limited",
    ),
    (
        "technology",
        "Test case generation",
        "Regression suites are thin",
        ("Tester hours saved", "time_saved", "hours", 60),
        "minimal",
    ),
    (
        "technology",
        "Legacy code translation",
        "COBOL knowledge is retiring",
        ("Engineer hours saved", "time_saved", "hours", 85),
        "minimal",
    ),
    (
        "technology",
        "Service desk chatbot",
        "Password resets flood the service desk",
        ("Tickets deflected", "cost_reduced", "tickets", 14),
        "limited",
    ),
    (
        "technology",
        "Cloud cost anomaly detection",
        "Cloud bills surprise teams",
        ("Savings captured", "cost_reduced", "USD", 1),
        "minimal",
    ),
    (
        "retail",
        "Mobile app assistant",
        "Customers call for simple questions",
        ("Calls deflected", "cost_reduced", "calls", 5),
        "limited",
    ),
    (
        "retail",
        "Financial health nudges",
        "Customers go overdrawn unexpectedly",
        ("Overdraft fees avoided", "customer_satisfaction", "customers", None),
        "limited",
    ),
    (
        "cards",
        "Credit limit optimisation",
        "Limits are set by static rules",
        ("Incremental revenue", "revenue", "USD", 1),
        "high",
    ),
    (
        "mortgages",
        "Arrears early intervention",
        "Arrears are caught after missed payments",
        ("Arrears avoided", "risk_mitigated", "cases", 1800),
        "high",
    ),
    (
        "cib",
        "Pitchbook generation",
        "Analysts assemble pitchbooks by hand",
        ("Analyst hours saved", "time_saved", "hours", 95),
        "minimal",
    ),
    (
        "markets",
        "Trade confirmation matching",
        "Confirmations are matched by hand",
        ("Clerk hours saved", "time_saved", "hours", 45),
        "minimal",
    ),
    (
        "wealth",
        "Estate planning document review",
        "Document review is slow",
        ("Paralegal hours saved", "time_saved", "hours", 65),
        "limited",
    ),
    (
        "contact-centre",
        "Complaint root cause clustering",
        "Complaint themes are found late",
        ("Complaints avoided", "customer_satisfaction", "complaints", None),
        "limited",
    ),
    (
        "procurement",
        "Tail spend buying assistant",
        "Small purchases bypass negotiated rates",
        ("Savings captured", "cost_reduced", "USD", 1),
        "minimal",
    ),
    (
        "operations",
        "Cheque image fraud detection",
        "Altered cheques are caught late",
        ("Fraud losses avoided", "cost_reduced", "USD", 1),
        "high",
    ),
    (
        "risk",
        "Conduct risk email surveillance",
        "Surveillance relies on keyword lists",
        ("Reviewer hours saved", "time_saved", "hours", 70),
        "high",
    ),
    (
        "technology",
        "Data catalogue auto-tagging",
        "Data assets lack owners and tags",
        ("Steward hours saved", "time_saved", "hours", 60),
        "minimal",
    ),
    (
        "risk",
        "Fraud case narrative writer",
        "Case narratives take hours",
        ("Investigator hours saved", "time_saved", "hours", 70),
        "limited",
    ),
    (
        "cards",
        "Collections voice bot",
        "Collections calls are repetitive",
        ("Agent hours saved", "time_saved", "hours", 30),
        "high",
    ),
    (
        "wealth",
        "Tax lot optimisation",
        "Tax harvesting is manual",
        ("Client value", "revenue", "USD", 1),
        "limited",
    ),
    (
        "retail",
        "Emotion detection in branches",
        "Experimental camera analytics",
        ("None", "other", "n/a", None),
        "prohibited",
    ),
]

# How many initiatives end in each stage (sums to the catalogue size).
STAGE_PLAN = (
    [Stage.PROOF_OF_CONCEPT] * 22
    + [Stage.INITIAL_PRODUCTION] * 14
    + [Stage.SCALED_DEPLOYMENT] * 9
    + [Stage.INSTITUTIONAL] * 4
    + [Stage.KILLED] * 7
    + [Stage.RETIRED] * 4
)

RATES = {"USD": Decimal("1"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}

# Why pilots were killed or retired, what it taught, what was kept: each end is its own story.
ENDINGS = {
    "kill": [
        (
            "The pilot did not beat the manual process: 71% precision against 78% for the "
            "analysts it was meant to help.",
            "Agree the business KPI and measure its baseline before building anything.",
            "Labelled case dataset (40,000 cases)",
        ),
        (
            "Data quality too poor to fix at a reasonable cost: a third of the source "
            "records had no usable date.",
            "Profile the source data in the first two weeks; stop early when it fails.",
            "Data quality rules for the core banking extract",
        ),
        (
            "No business sponsor after the reorganisation; nobody would own the process "
            "change the model needed.",
            "Name an accountable executive before the pilot starts, not at the gate.",
            "",
        ),
        (
            "The vendor's licence cost tripled at renewal, wiping out the projected saving.",
            "Negotiate production pricing before the pilot, while there is leverage.",
            "Prompt library and evaluation set",
        ),
        (
            "Prohibited practice under the EU AI Act: social scoring of customers from "
            "behavioural data.",
            "Screen use cases against prohibited practices at intake.",
            "",
        ),
        (
            "Explanations were not good enough for customers to contest decisions, so "
            "the model could not be used on them.",
            "Design the appeal and explanation path with the model, not after it.",
            "Feature pipeline for affordability signals",
        ),
        (
            "Latency of 4 seconds made it unusable inside the contact-centre call flow.",
            "Test against the real workflow's latency budget in week one.",
            "Call transcription integration",
        ),
    ],
    "retire": [
        (
            "Replaced by a vendor platform capability; value captured, service decommissioned.",
            "",
            "Evaluation harness reused by the replacement",
        ),
        (
            "The product line it served was sold; the model has no users left.",
            "",
            "Model monitoring dashboards",
        ),
        (
            "Superseded by the bank-wide document model, which does the same at a "
            "fifth of the cost.",
            "",
            "Labelled document corpus",
        ),
    ],
}
# Units whose scaling scorecards differ for visible reasons (training take-up, objectives).
TRAINING_TAKE_UP = {"retail": 0.85, "cards": 0.8, "mortgages": 0.75, "wealth": 0.3}
UNALIGNED_UNITS = {"operations", "contact-centre", "procurement", "technology"}


def month_starts(end: date, months: int) -> list[date]:
    first = end.replace(day=1)
    out = []
    for _ in range(months):
        out.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    return sorted(out)


class Command(BaseCommand):
    help = "Load the demo organisation (refuses with DEBUG off unless --force)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if initiatives exist."
        )
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")
        parser.add_argument("--seed", type=int, default=20261124)

    def handle(self, *args, if_empty: bool, force: bool, seed: int, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "Refusing to load demo data with DEBUG off; pass --force if you mean it."
            )
        if Initiative.objects.exists():
            if if_empty:
                self.stdout.write("The database already holds a portfolio; demo not loaded.")
                return
            raise CommandError(
                "The database already holds initiatives; seed_demo loads into an empty one."
            )
        self.rng = random.Random(seed)
        self.today = timezone.localdate()
        self.now = timezone.now()
        if "seed_standards" in get_commands():
            call_command("seed_standards", verbosity=0)
        with transaction.atomic():
            self._users_and_units()
            with acting_as(self.pmo):
                self._reference_data()
                self._initiatives()
                demo.seed_money(self, months=month_starts(self.today, 12))
                demo.seed_governance(self)
                self._people()
        demo.seed_cloud_bills(self)
        if "seed_gate_reviews" in get_commands():
            # Open gate reviews requested by the owners, so the PMO sees who is blocked and why.
            call_command("seed_gate_reviews", verbosity=0)
        with transaction.atomic():
            demo.tell_the_stall_story(self)
        if "run_periodic_jobs" in get_commands():
            call_command("run_periodic_jobs", no_email=True, verbosity=0)
        self._print_logins()

    # --- organisation -----------------------------------------------------------------
    def _user(self, username: str, first: str, last: str, *, staff: bool = False, groups=()):
        # One hash for every demo user: hashing ~50 passwords would dominate the run.
        if not hasattr(self, "_password_hash"):
            self._password_hash = make_password(settings.DEMO_PASSWORD)
        user = User.objects.create(
            username=username,
            email=f"{username}@example.org",
            password=self._password_hash,
            first_name=first,
            last_name=last,
            is_staff=staff,
        )
        for name in groups:
            user.groups.add(Group.objects.get(name=name))
        return user

    def _users_and_units(self):
        self.pmo = self._user("pmo", "Priya", "Menon", staff=True, groups=[PMO])
        self.finance = self._user("finance", "Frank", "Osei", staff=True, groups=[FINANCE])
        self.coe = self._user("coe", "Chen", "Li", staff=True, groups=[COE])
        self.auditor = self._user("auditor", "Ada", "Okafor", staff=True, groups=[AUDITOR])
        self.units: dict[str, BusinessUnit] = {}
        self.unit_currency: dict[str, str] = {}
        for code, slug, name, parent, currency in UNITS:
            self.units[slug] = BusinessUnit.objects.create(
                code=code, slug=slug, name=name, parent=self.units.get(parent) if parent else None
            )
            self.unit_currency[slug] = currency
        self.leads: dict[str, object] = {}
        self.staff: dict[str, list] = {}
        first_names = [
            "Maya",
            "Tom",
            "Ines",
            "Raj",
            "Sofia",
            "Ben",
            "Lena",
            "Omar",
            "Kate",
            "Yuki",
            "Noah",
        ]
        for i, (_code, slug, name, parent, _) in enumerate(UNITS):
            unit = self.units[slug]
            people = []
            for j, role in enumerate(["owner", "operator", "analyst"]):
                people.append(
                    self._user(
                        f"{slug}-{role}", first_names[(i + j) % len(first_names)], name.split()[0]
                    )
                )
            self.staff[slug] = people
            memberships = [
                (people[0], UnitRole.MEMBER),
                (people[1], UnitRole.MEMBER),
                (people[2], UnitRole.VIEWER),
            ]
            if parent is None:
                # Unit roles work in the app; the admin is for administrators.
                lead = self._user(f"lead-{slug}", first_names[i % len(first_names)], "Lead")
                self.leads[slug] = lead
                unit.lead = lead
                unit.save(update_fields=["lead"])
                memberships.append((lead, UnitRole.LEAD))
            for user, role in memberships:
                UnitMembership.objects.create(
                    user=user, business_unit=unit, role=role, granted_by=self.pmo
                )
                sync_membership_permissions(user=user, business_unit=unit)

    def _lead_of(self, slug: str):
        unit = self.units[slug]
        top = unit if unit.parent_id is None else unit.parent
        return self.leads[top.slug]

    def _reference_data(self):
        self.coes = [
            CenterOfExcellence.objects.create(
                name="Generative AI CoE",
                slug="genai",
                mission="Help teams ship LLM products safely.",
                lead=self.coe,
            ),
            CenterOfExcellence.objects.create(
                name="Model Risk and Analytics CoE",
                slug="model-risk",
                mission="Validate models and spread MLOps practice.",
                lead=self.coe,
            ),
        ]
        self.coes[0].members.add(self.coe)
        self.objectives = [
            Objective.objects.create(
                code=code, name=name, owner=self.pmo, fiscal_year=self.today.year
            )
            for code, name in [
                ("OBJ-1", "Lower the cost to serve by 15%"),
                ("OBJ-2", "Grow fee income in wealth and cards"),
                ("OBJ-3", "Halve financial crime losses"),
                ("OBJ-4", "Make every employee AI-literate"),
                ("OBJ-5", "Faster, safer customer decisions"),
            ]
        ]
        for stage, days in DEFAULT_STAGE_LIMIT_DAYS.items():
            StagePolicy.objects.create(stage=stage, limit_days=days, inactivity_days=90)
        demo.seed_exchange_rates(self, rates=RATES, months=month_starts(self.today, 24))

    # --- initiatives and outcomes -----------------------------------------------------
    def _initiatives(self):
        rng = self.rng
        plan = list(STAGE_PLAN)
        rng.shuffle(plan)
        # The prohibited experiment is always killed.
        self.initiatives: list[Initiative] = []
        transitions, assignments, kpis = [], [], []
        for n, ((slug, name, problem, kpi_spec, tier), stage) in enumerate(
            zip(CATALOGUE, plan, strict=True), start=1
        ):
            if tier == "prohibited":
                stage = Stage.KILLED
            unit = self.units[slug]
            history = self._stage_history(stage)
            started = self.today - timedelta(days=history[0][1])
            stalled = stage == Stage.PROOF_OF_CONCEPT and n % 2 == 0
            entered_days_ago = history[-1][1]
            if stalled:
                entered_days_ago = rng.randint(220, 420)
                started = self.today - timedelta(days=entered_days_ago)
            initiative = Initiative.objects.create(
                code=f"AI-{unit.code}-{n:03d}",
                name=name,
                business_unit=unit,
                summary=f"{name}: an AI initiative of {unit.name}.",
                problem=problem,
                stage=stage,
                status=Initiative.Status.CLOSED
                if stage in (Stage.KILLED, Stage.RETIRED)
                else Initiative.Status.ACTIVE,
                stage_entered_at=self.now - timedelta(days=entered_days_ago),
                started_on=started,
                build_or_buy=rng.choice(["build", "buy", "partner"]),
                integration_depth=self._depth(stage),
                coe=self.coes[0]
                if "summar" in name.lower()
                or "draft" in name.lower()
                or "assistant" in name.lower()
                else (self.coes[1] if tier == "high" else None),
                risk_tier=tier,
                uses_pii=tier in ("high", "limited"),
                uses_demographics=tier == "high" and n % 2 == 0,
            )
            if slug not in UNALIGNED_UNITS or stage != Stage.PROOF_OF_CONCEPT:
                initiative.objectives.add(self.objectives[n % len(self.objectives)])
            initiative._stalled = stalled
            initiative._kpi_spec = kpi_spec
            self.initiatives.append(initiative)
            owner, operator, analyst = self.staff[slug]
            assignments += [
                Assignment(
                    initiative=initiative,
                    business_unit=unit,
                    role=Assignment.Role.REQUIREMENTS_OWNER,
                    user=owner,
                ),
                Assignment(
                    initiative=initiative,
                    business_unit=unit,
                    role=Assignment.Role.ACCOUNTABLE_EXECUTIVE,
                    user=self._lead_of(slug),
                ),
                Assignment(
                    initiative=initiative,
                    business_unit=unit,
                    role=Assignment.Role.DATA_STEWARD,
                    user=analyst,
                ),
            ]
            if stage not in (Stage.PROOF_OF_CONCEPT,) and not (
                stage == Stage.KILLED and len(history) <= 2
            ):
                assignments.append(
                    Assignment(
                        initiative=initiative,
                        business_unit=unit,
                        role=Assignment.Role.OPERATOR,
                        user=operator,
                    )
                )
            if tier == "high":
                assignments.append(
                    Assignment(
                        initiative=initiative,
                        business_unit=unit,
                        role=Assignment.Role.RISK_OWNER,
                        user=self._lead_of(slug),
                    )
                )
            transitions += self._transitions(initiative, history)
            kpis += self._kpis(initiative, kpi_spec)
        Assignment.objects.bulk_create(assignments)
        StageTransition.objects.bulk_create(transitions)
        KPI.objects.bulk_create(kpis)
        self._measurements()
        self._adoption_and_integrations()

    def _depth(self, stage: str) -> str:
        return {
            Stage.PROOF_OF_CONCEPT: IntegrationDepth.STANDALONE,
            Stage.INITIAL_PRODUCTION: IntegrationDepth.ON_REQUEST,
            Stage.SCALED_DEPLOYMENT: IntegrationDepth.EMBEDDED,
            Stage.INSTITUTIONAL: IntegrationDepth.AUTOMATED,
        }.get(stage, IntegrationDepth.STANDALONE)

    def _stage_history(self, final: str) -> list[tuple[str, int]]:
        """(stage, days ago the stage was entered), oldest first, ending in ``final``."""
        rng = self.rng
        if final in (Stage.KILLED, Stage.RETIRED):
            reached = rng.choice([1, 1, 2]) if final == Stage.KILLED else rng.choice([2, 3])
            path = list(ACTIVE_STAGES[:reached]) + [final]
        else:
            path = list(ACTIVE_STAGES[: ACTIVE_STAGES.index(final) + 1])
        days = rng.randint(30, 150)
        out = [(path[-1], days)]
        for stage in reversed(path[:-1]):
            days += rng.randint(120, 330)
            out.append((stage, days))
        return list(reversed(out))

    def _transitions(self, initiative: Initiative, history) -> list[StageTransition]:
        out = []
        deciders = [self.pmo, self.coe]
        for (prev, _), (stage, days_ago) in zip(history, history[1:], strict=False):
            decision = {Stage.KILLED: "kill", Stage.RETIRED: "retire"}.get(stage, "advance")
            rationale = "Gate criteria met: baseline measured, owner named, budget approved."
            lessons = salvaged = ""
            if decision in ENDINGS:
                endings = ENDINGS[decision]
                self._endings = getattr(self, "_endings", 0) + 1
                rationale, lessons, salvaged = endings[self._endings % len(endings)]
                if initiative.risk_tier == "prohibited":
                    rationale, lessons, salvaged = ENDINGS["kill"][4]
            currency = self.unit_currency.get(initiative.business_unit.slug, "USD")
            out.append(
                StageTransition(
                    initiative=initiative,
                    business_unit_id=initiative.business_unit_id,
                    from_stage=prev,
                    to_stage=stage,
                    decision=decision,
                    rationale=rationale,
                    decided_by=deciders[len(out) % 2],
                    decided_at=self.now - timedelta(days=days_ago),
                    sunk_cost=Decimal(self.rng.randint(40, 400) * 1000)
                    if decision in ("kill", "retire")
                    else None,
                    sunk_cost_currency=currency if decision in ("kill", "retire") else "",
                    salvaged=salvaged,
                    lessons=lessons,
                )
            )
        if initiative.stage == Stage.PROOF_OF_CONCEPT and self.rng.random() < 0.3:
            out.append(
                StageTransition(
                    initiative=initiative,
                    business_unit_id=initiative.business_unit_id,
                    from_stage=Stage.PROOF_OF_CONCEPT,
                    to_stage=Stage.PROOF_OF_CONCEPT,
                    decision="hold",
                    rationale="No baseline for the business KPI yet; come back when it is measured.",
                    decided_by=self.pmo,
                    decided_at=self.now - timedelta(days=self.rng.randint(10, 60)),
                )
            )
        return out

    def _kpis(self, initiative: Initiative, spec) -> list[KPI]:
        name, category, unit, value_per_unit = spec
        started = initiative.started_on
        no_baseline = initiative.stage == Stage.PROOF_OF_CONCEPT and self.rng.random() < 0.4
        decrease = category == "risk_mitigated" and unit.startswith("%")
        baseline, target = Decimal(0), self._target(value_per_unit)
        if decrease:
            # Lower is better (an error rate in %): the target is below the baseline, as
            # the kpi_target_improves constraint requires.
            baseline, target = Decimal(12), Decimal(6)
        out = [
            KPI(
                initiative=initiative,
                business_unit_id=initiative.business_unit_id,
                name=name,
                kind=KPI.Kind.BUSINESS,
                category=category,
                unit=unit,
                direction=KPI.Direction.DECREASE if decrease else KPI.Direction.INCREASE,
                baseline_value=None if no_baseline else baseline,
                baseline_date=None if no_baseline else started,
                target_value=target,
                target_date=started + timedelta(days=540),
                cadence=KPI.Cadence.MONTHLY,
                value_per_unit=Decimal(str(value_per_unit)) if value_per_unit is not None else None,
                value_currency=self.unit_currency[initiative.business_unit.slug]
                if value_per_unit is not None
                else "",
            )
        ]
        if initiative.stage not in (Stage.PROOF_OF_CONCEPT,):
            out.append(
                KPI(
                    initiative=initiative,
                    business_unit_id=initiative.business_unit_id,
                    name="Weekly active users",
                    kind=KPI.Kind.OPERATIONAL,
                    category=KPI.Category.ADOPTION,
                    unit="users",
                    baseline_value=Decimal(0),
                    baseline_date=started,
                    target_value=Decimal(500),
                    target_date=started + timedelta(days=365),
                )
            )
        out.append(
            KPI(
                initiative=initiative,
                business_unit_id=initiative.business_unit_id,
                name="Model accuracy",
                kind=KPI.Kind.TECHNICAL,
                category=KPI.Category.ACCURACY,
                unit="%",
                baseline_value=Decimal(70),
                baseline_date=started,
                target_value=Decimal(92),
                target_date=started + timedelta(days=365),
                cadence=KPI.Cadence.QUARTERLY,
            )
        )
        return out

    def _target(self, value_per_unit) -> Decimal:
        """A monthly target; for monetised KPIs, one worth USD 30k-160k a month at target, so
        realised value and cost land in the same range and ROI varies believably."""
        if value_per_unit is None:
            return Decimal(self.rng.choice([500, 1000, 2500, 5000]))
        monthly_value = Decimal(self.rng.randint(30, 160) * 1000)
        return max(
            Decimal(1), (monthly_value / Decimal(str(value_per_unit))).quantize(Decimal("1"))
        )

    def _measurements(self):
        rows = []
        kpis = KPI.objects.select_related("initiative")
        for kpi in kpis:
            initiative = kpi.initiative
            if initiative.stage == Stage.PROOF_OF_CONCEPT and kpi.baseline_value is None:
                continue
            live_months = {
                Stage.PROOF_OF_CONCEPT: 3,
                Stage.INITIAL_PRODUCTION: 8,
                Stage.SCALED_DEPLOYMENT: 12,
                Stage.INSTITUTIONAL: 12,
                Stage.KILLED: 4,
                Stage.RETIRED: 12,
            }[initiative.stage]
            end = self.today
            if initiative.stage in (Stage.KILLED, Stage.RETIRED):
                end = initiative.stage_entered_at.date()
            if getattr(initiative, "_stalled", False):
                end = self.today - timedelta(days=150)
            months = month_starts(end, live_months)
            step = {Stage.SCALED_DEPLOYMENT: 1.6, Stage.INSTITUTIONAL: 2.2}.get(
                initiative.stage, 1.0
            )
            baseline = float(kpi.baseline_value or 0)
            target = float(kpi.target_value or 100)
            for k, month in enumerate(months):
                if kpi.kind == KPI.Kind.TECHNICAL:
                    value = min(98.0, 70 + k * 2.1 + self.rng.uniform(-1, 1))
                else:
                    progress = step * (k + 1) / 14 * self.rng.uniform(0.8, 1.15)
                    if kpi.direction == KPI.Direction.DECREASE:
                        value = max(0.0, baseline - (baseline - target) * progress)
                    else:
                        value = max(0.0, target * progress)
                if kpi.kind == KPI.Kind.TECHNICAL and k % 3:
                    continue
                rows.append(
                    Measurement(
                        kpi=kpi,
                        business_unit_id=kpi.business_unit_id,
                        measured_on=month + timedelta(days=27),
                        value=Decimal(f"{value:.2f}"),
                        recorded_by=self.staff[initiative.business_unit.slug][1],
                    )
                )
        Measurement.objects.bulk_create(rows)

    def _adoption_and_integrations(self):
        snapshots, points = [], []
        systems = [
            "Salesforce",
            "SAP S/4HANA",
            "ServiceNow",
            "Temenos core banking",
            "Murex",
            "Workday",
            "Genesys",
        ]
        for initiative in self.initiatives:
            if initiative.stage in (Stage.PROOF_OF_CONCEPT, Stage.KILLED):
                continue
            eligible = self.rng.choice([150, 400, 1200, 3000])
            for k, month in enumerate(month_starts(self.today, 6)):
                active = min(eligible, int(eligible * (0.2 + 0.1 * k) * self.rng.uniform(0.8, 1.1)))
                snapshots.append(
                    AdoptionSnapshot(
                        initiative=initiative,
                        business_unit_id=initiative.business_unit_id,
                        as_of=month,
                        eligible_users=eligible,
                        active_users=active,
                        satisfaction=Decimal(f"{self.rng.uniform(3.1, 4.6):.2f}"),
                    )
                )
            points.append(
                IntegrationPoint(
                    initiative=initiative,
                    business_unit_id=initiative.business_unit_id,
                    system=self.rng.choice(systems),
                    mode=initiative.integration_depth,
                )
            )
        AdoptionSnapshot.objects.bulk_create(snapshots)
        IntegrationPoint.objects.bulk_create(points)

    # --- money --------------------------------------------------------------------------
    def _people(self):
        programs = [
            TrainingProgram.objects.create(
                name="AI literacy for everyone",
                audience="everyone",
                hours=Decimal("3"),
                coe=self.coes[0],
            ),
            TrainingProgram.objects.create(
                name="Prompt engineering in practice",
                audience="practitioners",
                hours=Decimal("6"),
                coe=self.coes[0],
            ),
            TrainingProgram.objects.create(
                name="Model risk for leaders",
                audience="leaders",
                hours=Decimal("4"),
                coe=self.coes[1],
            ),
            TrainingProgram.objects.create(
                name="MLOps foundations",
                audience="engineers",
                hours=Decimal("16"),
                coe=self.coes[1],
            ),
        ]
        rows = []
        for slug, people in self.staff.items():
            for user in people:
                top = self.units[slug].parent.slug if self.units[slug].parent_id else slug
                take_up = TRAINING_TAKE_UP.get(slug, TRAINING_TAKE_UP.get(top, 0.45))
                for program in programs:
                    if self.rng.random() < take_up:
                        rows.append(
                            TrainingCompletion(
                                program=program,
                                user=user,
                                business_unit=self.units[slug],
                                completed_on=self.today - timedelta(days=self.rng.randint(5, 330)),
                                score=Decimal(self.rng.randint(62, 100)),
                            )
                        )
        TrainingCompletion.objects.bulk_create(rows)

    def _print_logins(self):
        pw = settings.DEMO_PASSWORD
        self.stdout.write(
            self.style.SUCCESS(f"Demo portfolio loaded: {Initiative.objects.count()} initiatives.")
        )
        self.stdout.write(
            "Sign in at http://127.0.0.1:8000/ with (password for all: DEMO_PASSWORD, default 'demo'):"
        )
        for username, what in [
            ("pmo", "PMO: the whole portfolio"),
            ("finance", "Finance: budgets and spend everywhere"),
            ("coe", "Centre of excellence: standards and gates"),
            ("auditor", "Auditor: reads everything, changes nothing"),
        ] + [(f"lead-{slug}", f"Lead of {self.units[slug].name}") for slug in self.leads]:
            self.stdout.write(f"  {username:<18} {what}")
        if pw != "demo":
            self.stdout.write("  (password from DEMO_PASSWORD)")
