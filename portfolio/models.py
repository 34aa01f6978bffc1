from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from people.audit import audited
from people.models import BusinessUnit, CenterOfExcellence, TimeStampedModel
from portfolio.choices import IntegrationDepth, RiskTier, Stage
from portfolio.querysets import InitiativeQuerySet, ScopedQuerySet
from portfolio.transitions import allowed_move_condition
from portfolio.validity import date_problem, in_range

User = settings.AUTH_USER_MODEL


class Objective(TimeStampedModel):
    """A strategic objective; organisation-wide, so visible to every signed-in user."""

    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fiscal_year = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StagePolicy(TimeStampedModel):
    """How long an initiative may stay in a stage, and without activity, before it is
    flagged as stalled. Edited by the PMO; stages without a row use the playbook's
    defaults."""

    stage = models.CharField(max_length=24, choices=Stage.choices, unique=True)
    limit_days = models.PositiveIntegerField(help_text="Days in the stage before it is stalled")
    inactivity_days = models.PositiveIntegerField(
        default=90, help_text="Days with no measurement, spend, review or transition"
    )
    decision_days = models.PositiveIntegerField(
        default=30, help_text="Days to decide a stall review before it escalates"
    )
    reminder_days = models.PositiveIntegerField(
        default=7, help_text="Days before a stall decision's deadline to remind the deciders"
    )

    class Meta:
        ordering = ["stage"]
        verbose_name_plural = "stage policies"

    def __str__(self) -> str:
        return f"{self.get_stage_display()}: {self.limit_days} days"


class UnitOwned(TimeStampedModel):
    """A row that belongs to a business unit (denormalised from its initiative)."""

    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        initiative_id = getattr(self, "initiative_id", None)
        if initiative_id and not self.business_unit_id:
            self.business_unit_id = (
                Initiative.objects.filter(pk=initiative_id)
                .values_list("business_unit_id", flat=True)
                .get()
            )
        super().save(*args, **kwargs)


@audited(exclude=("last_activity_on",))
class Initiative(TimeStampedModel):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ON_HOLD = "on_hold", "On hold"
        CLOSED = "closed", "Closed"

    class BuildOrBuy(models.TextChoices):
        BUILD = "build", "Build in-house"
        BUY = "buy", "Buy"
        PARTNER = "partner", "Build with a partner"
        UNKNOWN = "unknown", "Unknown"

    code = models.CharField(max_length=60, unique=True)
    name = models.CharField(max_length=300)
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.PROTECT, related_name="initiatives"
    )
    summary = models.TextField(blank=True)
    problem = models.TextField(blank=True)
    objectives = models.ManyToManyField(Objective, blank=True, related_name="initiatives")
    stage = models.CharField(max_length=24, choices=Stage.choices, default=Stage.PROOF_OF_CONCEPT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    stage_entered_at = models.DateTimeField(default=timezone.now)
    # False when an import knew the stage but not when it was entered (the federal file
    # leaves ~61% undated): stage_entered_at is then the import day, kept for the stall
    # rules (a conservative "entered no earlier than"), and pages say "date not known"
    # instead of presenting it. A gate decision that moves the stage dates it again.
    stage_date_known = models.BooleanField(
        "Stage date known", default=True, db_default=True, editable=False
    )
    started_on = models.DateField(null=True, blank=True)
    build_or_buy = models.CharField(
        max_length=10, choices=BuildOrBuy.choices, default=BuildOrBuy.UNKNOWN
    )
    integration_depth = models.CharField(
        max_length=12, choices=IntegrationDepth.choices, default=IntegrationDepth.STANDALONE
    )
    coe = models.ForeignKey(
        CenterOfExcellence,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="initiatives",
        verbose_name="CoE support",
    )
    risk_tier = models.CharField(
        max_length=12, choices=RiskTier.choices, default=RiskTier.UNASSESSED
    )
    uses_pii = models.BooleanField(null=True, blank=True, verbose_name="uses personal data")
    uses_demographics = models.BooleanField(
        null=True, blank=True, verbose_name="uses demographic features"
    )
    # The latest business date of anything that happened to the initiative: written only
    # by the database (portfolio/activity.py), from every table that carries activity.
    last_activity_on = models.DateField(null=True, blank=True, editable=False)
    # Where an imported initiative came from, and the source's own words.
    source = models.CharField(max_length=60, blank=True)
    source_key = models.CharField(max_length=200, blank=True)
    source_data = models.JSONField(default=dict, blank=True)

    objects = InitiativeQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        permissions = [("decide_gate", "Decide stage gates for any initiative")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_key"],
                condition=~Q(source_key=""),
                name="initiative_unique_source_key",
            ),
            models.CheckConstraint(
                condition=in_range("started_on"),
                name="initiative_started_on_real",
                violation_error_message="The start date is not a real date for an initiative.",
            ),
        ]
        indexes = [
            models.Index(fields=["business_unit", "stage"]),
            models.Index(fields=["stage", "stage_entered_at"]),
            models.Index(fields=["stage", "last_activity_on"]),
            # The stalled list's sorts (``sort_queryset`` breaks ties by pk): read in order,
            # stop at the page, rather than judge and sort every active initiative.
            models.Index(fields=["stage_entered_at", "id"], name="initiative_entered_id"),
            models.Index(fields=["last_activity_on", "id"], name="initiative_activity_id"),
        ]

    def clean(self):
        super().clean()
        problem = date_problem(self.started_on, max_future_days=5 * 366)
        if problem:
            from django.core.exceptions import ValidationError

            raise ValidationError({"started_on": problem})

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@audited
class Assignment(UnitOwned):
    """One accountable person per role on an initiative (on the audit trail: who was
    accountable when matters after the fact)."""

    class Role(models.TextChoices):
        REQUIREMENTS_OWNER = "requirements_owner", "Requirements owner"
        OPERATOR = "operator", "Operator"
        ACCOUNTABLE_EXECUTIVE = "accountable_executive", "Accountable executive"
        FUNDER = "funder", "Funder"
        RISK_OWNER = "risk_owner", "Risk owner"
        DATA_STEWARD = "data_steward", "Data steward"
        COE_SPONSOR = "coe_sponsor", "CoE sponsor"

    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="assignments")
    role = models.CharField(max_length=24, choices=Role.choices)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="assignments")

    class Meta:
        ordering = ["initiative", "role"]
        constraints = [
            models.UniqueConstraint(fields=["initiative", "role"], name="one_person_per_role"),
        ]

    def clean(self):
        super().clean()
        if self.initiative_id and self.user_id:
            from django.core.exceptions import ValidationError

            from portfolio.services import owner_problem

            problem = owner_problem(self.initiative, self.user)
            if problem:
                raise ValidationError({"user": problem})

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.user}"


@audited
@pgtrigger.register(
    # Append-only, except for the denormalised unit: an initiative moved to another unit
    # takes its stage history with it (portfolio.services.initiative_move).
    pgtrigger.Protect(name="stage_history_append_only", operation=pgtrigger.Delete),
    pgtrigger.Protect(
        name="stage_history_append_only_fields",
        operation=pgtrigger.Update,
        condition=pgtrigger.AnyChange(exclude=["business_unit", "updated_at"]),
    ),
)
class StageTransition(UnitOwned):
    """An append-only record of a gate decision, including holds and imports."""

    class Decision(models.TextChoices):
        ADVANCE = "advance", "Advance"
        HOLD = "hold", "Hold"
        PIVOT = "pivot", "Pivot"
        KILL = "kill", "Kill"
        RETIRE = "retire", "Retire"
        ROLL_BACK = "roll_back", "Roll back"
        IMPORT = "import", "Imported"

    initiative = models.ForeignKey(Initiative, on_delete=models.PROTECT, related_name="transitions")
    from_stage = models.CharField(max_length=24, choices=Stage.choices)
    to_stage = models.CharField(max_length=24, choices=Stage.choices)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    rationale = models.TextField()
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=60, blank=True, help_text="Import source, if imported")
    # Kill and retire are outcomes worth learning from.
    sunk_cost = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    sunk_cost_currency = models.CharField(max_length=3, blank=True)
    salvaged = models.TextField(blank=True, help_text="Data, components or knowledge reused")
    lessons = models.TextField(blank=True)
    # Kills and retirements: the initiatives that reused what was salvaged.
    reused_by = models.ManyToManyField(
        "Initiative", blank=True, related_name="salvage_reused", verbose_name="reused by"
    )

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(rationale=""), name="transition_rationale_required"
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=False) | Q(decision="import"),
                name="transition_decider_required",
            ),
            models.CheckConstraint(
                condition=Q(sunk_cost__isnull=True) | ~Q(sunk_cost_currency=""),
                name="transition_sunk_cost_has_currency",
            ),
            # The transition table (portfolio.transitions), enforced by the database too.
            models.CheckConstraint(
                condition=allowed_move_condition(),
                name="transition_allowed_move",
                violation_error_message="This stage move is not in the transition table.",
            ),
        ]
        indexes = [models.Index(fields=["business_unit", "decided_at"])]

    def __str__(self) -> str:
        return f"{self.initiative_id}: {self.from_stage} -> {self.to_stage} ({self.decision})"


@audited(exclude=("last_measured_on",))
class KPI(UnitOwned):
    class Kind(models.TextChoices):
        BUSINESS = "business", "Business"
        OPERATIONAL = "operational", "Operational"
        TECHNICAL = "technical", "Technical"

    class Category(models.TextChoices):
        TIME_SAVED = "time_saved", "Time saved"
        COST_REDUCED = "cost_reduced", "Cost reduced"
        REVENUE = "revenue", "Revenue"
        CUSTOMER_SATISFACTION = "customer_satisfaction", "Customer satisfaction"
        RISK_MITIGATED = "risk_mitigated", "Risk mitigated"
        NEW_CAPABILITY = "new_capability", "New capability"
        UPTIME = "uptime", "Uptime"
        LATENCY = "latency", "Latency"
        ADOPTION = "adoption", "Adoption"
        ACCURACY = "accuracy", "Accuracy"
        AUC = "auc", "AUC"
        OTHER = "other", "Other"

    class Direction(models.TextChoices):
        INCREASE = "increase", "Higher is better"
        DECREASE = "decrease", "Lower is better"

    class Cadence(models.TextChoices):
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"
        QUARTERLY = "quarterly", "Quarterly"

    initiative = models.ForeignKey(Initiative, on_delete=models.CASCADE, related_name="kpis")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    category = models.CharField(max_length=24, choices=Category.choices, default=Category.OTHER)
    unit = models.CharField(max_length=40, help_text="Unit of measure: hours, %, ms, cases")
    direction = models.CharField(
        max_length=10, choices=Direction.choices, default=Direction.INCREASE
    )
    baseline_value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    baseline_date = models.DateField(null=True, blank=True)
    target_value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    target_date = models.DateField(null=True, blank=True)
    cadence = models.CharField(max_length=10, choices=Cadence.choices, default=Cadence.MONTHLY)
    # Monetised KPIs: each unit of improvement over the baseline is worth this much.
    value_per_unit = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    value_currency = models.CharField(max_length=3, blank=True)
    last_measured_on = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text="Day of the latest measurement (kept by the database: portfolio.value_rollup)",
    )

    class Meta:
        ordering = ["initiative", "name"]
        verbose_name = "KPI"
        verbose_name_plural = "KPIs"
        constraints = [
            models.CheckConstraint(
                condition=Q(baseline_value__isnull=True) | Q(baseline_date__isnull=False),
                name="kpi_baseline_has_date",
            ),
            models.CheckConstraint(
                condition=Q(target_value__isnull=True) | Q(target_date__isnull=False),
                name="kpi_target_has_date",
            ),
            models.CheckConstraint(
                condition=Q(value_per_unit__isnull=True) | ~Q(value_currency=""),
                name="kpi_value_has_currency",
            ),
            models.CheckConstraint(
                condition=in_range("baseline_date") & in_range("target_date"),
                name="kpi_dates_real",
                violation_error_message="A KPI date is not a real date.",
            ),
            models.CheckConstraint(
                condition=Q(baseline_date__isnull=True)
                | Q(target_date__isnull=True)
                | Q(target_date__gt=F("baseline_date")),
                name="kpi_target_after_baseline",
                violation_error_message="The target date must come after the baseline date.",
            ),
            # The target improves on the baseline in the KPI's direction (clean() says which
            # field is wrong; this holds for every path, bulk writes and imports included).
            models.CheckConstraint(
                condition=Q(baseline_value__isnull=True)
                | Q(target_value__isnull=True)
                | Q(direction="increase", target_value__gt=F("baseline_value"))
                | Q(direction="decrease", target_value__lt=F("baseline_value")),
                name="kpi_target_improves",
                violation_error_message="The target must improve on the baseline.",
            ),
        ]

    def clean(self):
        """What cannot be true is refused by field: dates outside any plan, a target
        reached before its baseline was measured, a target that is no improvement."""
        from django.core.exceptions import ValidationError

        super().clean()
        errors = {}
        for name in ("baseline_date", "target_date"):
            problem = date_problem(getattr(self, name))
            if problem:
                errors[name] = problem
        if (
            self.baseline_date
            and self.target_date
            and "target_date" not in errors
            and self.target_date <= self.baseline_date
        ):
            errors["target_date"] = "The target date must come after the baseline date."
        b, t = self.baseline_value, self.target_value
        if b is not None and t is not None:
            if t == b:
                errors["target_value"] = "The target equals the baseline: nothing would improve."
            elif self.direction == self.Direction.INCREASE and t < b:
                errors["target_value"] = (
                    "Higher is better, so the target must be above the baseline."
                )
            elif self.direction == self.Direction.DECREASE and t > b:
                errors["target_value"] = (
                    "Lower is better, so the target must be below the baseline."
                )
        if errors:
            raise ValidationError(errors)

    def __str__(self) -> str:
        return self.name


@audited
class Measurement(UnitOwned):
    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="measurements")
    measured_on = models.DateField()
    value = models.DecimalField(max_digits=18, decimal_places=4)
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["kpi", "-measured_on"]
        constraints = [
            models.UniqueConstraint(fields=["kpi", "measured_on"], name="one_measurement_per_day"),
        ]
        indexes = [models.Index(fields=["business_unit", "measured_on"])]

    def save(self, *args, **kwargs):
        if not self.business_unit_id and self.kpi_id:
            self.business_unit_id = (
                KPI.objects.filter(pk=self.kpi_id).values_list("business_unit_id", flat=True).get()
            )
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.kpi_id} on {self.measured_on}: {self.value}"


class AdoptionSnapshot(UnitOwned):
    initiative = models.ForeignKey(
        Initiative, on_delete=models.CASCADE, related_name="adoption_snapshots"
    )
    as_of = models.DateField()
    eligible_users = models.PositiveIntegerField()
    active_users = models.PositiveIntegerField()
    satisfaction = models.DecimalField(
        max_digits=3, decimal_places=2, null=True, blank=True, help_text="1 to 5"
    )

    class Meta:
        ordering = ["initiative", "-as_of"]
        constraints = [
            models.UniqueConstraint(fields=["initiative", "as_of"], name="one_snapshot_per_day"),
            models.CheckConstraint(
                condition=Q(active_users__lte=F("eligible_users")),
                name="adoption_active_within_eligible",
            ),
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True)
                | Q(satisfaction__gte=1, satisfaction__lte=5),
                name="adoption_satisfaction_1_5",
            ),
        ]


class IntegrationPoint(UnitOwned):
    initiative = models.ForeignKey(
        Initiative, on_delete=models.CASCADE, related_name="integration_points"
    )
    system = models.CharField(max_length=200, help_text="The business system, e.g. SAP, Salesforce")
    mode = models.CharField(max_length=12, choices=IntegrationDepth.choices)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["initiative", "system"]

    def __str__(self) -> str:
        return f"{self.system} ({self.get_mode_display()})"


class ScorecardSnapshot(UnitOwned):
    """A unit's scaling scorecard (eight dimension scores, 0-100, None when there is
    nothing to judge) as it stood in ``month``; taken monthly by a periodic task
    (``portfolio.scorecard.snapshot_take``) so the trend is kept."""

    month = models.DateField(help_text="First day of the month")
    scores = models.JSONField(default=dict)

    class Meta:
        ordering = ["business_unit", "-month"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_unit", "month"], name="one_scorecard_per_unit_month"
            ),
        ]

    def __str__(self) -> str:
        return f"Scorecard {self.business_unit_id} {self.month:%Y-%m}"


class KPIPeriodValue(models.Model):
    """The maintained value rollup: per KPI and cadence period (the week, month or
    quarter of the KPI's cadence, by its first day), the latest measurement of the period
    (its day and value), for business KPIs with a baseline and a value per unit (the ones
    worth money). Kept exact by database triggers on ``portfolio_measurement`` and
    ``portfolio_kpi`` (``portfolio.value_rollup``), so ``finance.selectors`` reads one row
    per KPI period instead of every measurement. The money (level above baseline x value
    per unit) is computed when read, from the KPI row, so editing a KPI's baseline,
    direction or value per unit needs no rebuild; a change of cadence re-buckets, and a
    KPI that becomes (or stops being) worth money gains (or loses) its rows."""

    kpi = models.ForeignKey(KPI, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    initiative = models.ForeignKey(
        Initiative, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    period = models.DateField(help_text="First day of the KPI's cadence period")
    measured_on = models.DateField(help_text="Day of the period's latest measurement")
    value = models.DecimalField(max_digits=18, decimal_places=4)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kpi", "period"], name="kpi_period_value_key"),
        ]
        indexes = [
            models.Index(fields=["business_unit", "period"], name="kpi_period_value_unit"),
            models.Index(fields=["initiative", "period"], name="kpi_period_value_init"),
        ]

    def __str__(self) -> str:
        return f"{self.kpi_id} {self.period}: {self.value} ({self.measured_on})"


class FlowCohort(models.Model):
    """The maintained flow rollup: per business unit and start quarter, the counts the
    flow page's cohorts and funnel add up (initiatives whose stage is known). Kept exact
    by database triggers on ``portfolio_initiative`` and ``portfolio_stagetransition``
    (``portfolio.flow_rollup``, which holds the one definition), so ``portfolio.analytics``
    sums a few hundred rows instead of reading every initiative and its stage history."""

    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    quarter = models.DateField(help_text="First day of the start quarter")
    started = models.IntegerField(help_text="Initiatives that started in the quarter")
    reached_6 = models.IntegerField(help_text="Reached initial production within 6 months")
    reached_12 = models.IntegerField(help_text="Within 12 months")
    reached_18 = models.IntegerField(help_text="Within 18 months")
    killed = models.IntegerField()
    in_pilot = models.IntegerField(help_text="Still in proof of concept")
    ever_initial_production = models.IntegerField(help_text="Ever reached initial production")
    ever_scaled_deployment = models.IntegerField(help_text="Ever reached scaled deployment")
    ever_institutional = models.IntegerField(help_text="Ever became institutional")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["business_unit", "quarter"], name="flow_cohort_key"),
        ]

    def __str__(self) -> str:
        return f"{self.business_unit_id} {self.quarter}: {self.started} started"


class InitiativeFactsQuerySet(ScopedQuerySet):
    scope_field = "initiative__business_unit_id"


class InitiativeFacts(models.Model):
    """What the scaling scorecard asks of each initiative's records, one narrow row per
    initiative, so the scorecard reads it instead of probing six tables for every
    initiative (``portfolio.scorecard``). Kept exact by database triggers: the portfolio
    columns by ``portfolio.facts`` (objectives, KPIs, assignments; a row per initiative
    from its creation), the governance columns by ``governance.facts`` (AI systems,
    model versions, risk assessments). The checks that depend on today's date keep the
    date they are judged by, so the row stays true as days pass: an operational KPI's
    last measurement, the day a production model's revalidation falls due, the day a
    current risk assessment's review falls due. Not audited (derived)."""

    initiative = models.OneToOneField(
        Initiative,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    aligned = models.BooleanField(default=False, help_text="Linked to a strategic objective")
    measured = models.BooleanField(default=False, help_text="A business KPI with a baseline")
    staffed = models.BooleanField(
        default=False, help_text="Requirements owner, operator and accountable executive named"
    )
    monitored_on = models.DateField(
        null=True, blank=True, help_text="Latest measurement of its operational KPIs"
    )
    deployed = models.BooleanField(default=False, help_text="A model version in production")
    revalidation_due = models.DateField(
        null=True,
        blank=True,
        help_text="Latest day by which a production model version with a retraining "
        "interval is revalidated in time (validated day + interval)",
    )
    review_due = models.DateField(
        null=True,
        blank=True,
        help_text="Latest review day of its current risk assessments (9999-12-31 when one "
        "has no review date: never overdue)",
    )

    objects = InitiativeFactsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "initiative facts"

    def __str__(self) -> str:
        return f"Facts of {self.initiative_id}"


class FlowStay(models.Model):
    """The maintained stays in each active stage, from which the flow page's time in stage
    is read: per initiative, each stay (its stage, when it began and ended, and a completed
    stay's length in days), in the initiative's unit. Kept exact by the same triggers as
    ``FlowCohort`` (``portfolio.flow_rollup``, which holds the definition); indexed so
    that a percentile is one row found by its rank instead of a sort of every stay."""

    initiative = models.ForeignKey(
        Initiative, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    business_unit = models.ForeignKey(
        BusinessUnit,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    stage = models.CharField(max_length=24, choices=Stage.choices)
    entered = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True, help_text="None: the stay goes on")
    days = models.FloatField(null=True, blank=True, help_text="A completed stay's length in days")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["stage", "days"],
                include=["business_unit"],
                condition=Q(left_at__isnull=False),
                name="flow_stay_done",
            ),
            models.Index(
                fields=["stage", "entered"],
                include=["business_unit"],
                condition=Q(left_at__isnull=True),
                name="flow_stay_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.initiative_id} {self.stage} from {self.entered:%Y-%m-%d}"
