from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from people.audit import audited
from people.models import BusinessUnit, TimeStampedModel
from people.querysets import ScopedQuerySet
from portfolio.choices import END_STAGES
from portfolio.models import Initiative, UnitOwned
from portfolio.validity import in_range

User = settings.AUTH_USER_MODEL


class CostKind(models.TextChoices):
    ONE_TIME = "one_time", "One-time"
    OPERATIONAL = "operational", "Operational"


class CostCategory(models.TextChoices):
    COMPUTE = "compute", "Compute and infrastructure"
    PERSONNEL = "personnel", "Personnel"
    TOOLING = "tooling", "Tooling and monitoring"
    SECURITY = "security", "Security and compliance"
    DATA = "data", "Data"
    VENDOR = "vendor", "Vendor and licences"
    RETRAINING = "retraining", "Retraining"
    RISK_RESERVE = "risk_reserve", "Risk reserve"
    STRATEGIC_INVESTMENT = "strategic_investment", "Strategic investment"


#: Which cost kinds each category may be booked as (DESIGN.md section 2: "strategic
#: investment is a category of one-time spend"); a category not listed takes either kind.
CATEGORY_KINDS: dict[str, tuple[str, ...]] = {
    CostCategory.STRATEGIC_INVESTMENT: (CostKind.ONE_TIME,),
}


def kind_category_error(kind: str, category: str) -> str | None:
    """Why ``kind`` and ``category`` do not go together, or None."""
    kinds = CATEGORY_KINDS.get(category)
    if kind and kinds and kind not in kinds:
        allowed = " or ".join(CostKind(k).label.lower() for k in kinds)
        return f"{CostCategory(category).label} is {allowed} spend, not {CostKind(kind).label.lower()}."
    return None


def kind_category_condition() -> Q:
    condition = Q()
    for category, kinds in CATEGORY_KINDS.items():
        condition &= ~Q(category=category) | Q(kind__in=list(kinds))
    return condition


class ExchangeRate(TimeStampedModel):
    """Units of the reporting currency for one unit of ``currency``, from ``valid_from``."""

    currency = models.CharField(max_length=3)
    valid_from = models.DateField()
    rate = models.DecimalField(max_digits=18, decimal_places=8)

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "valid_from"], name="one_rate_per_day"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="rate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate} from {self.valid_from}"


@audited
class Budget(UnitOwned):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        REQUESTED = "requested", "Awaiting approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded by an amendment"

    initiative = models.ForeignKey(Initiative, on_delete=models.PROTECT, related_name="budgets")
    fiscal_year = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=12, choices=CostKind.choices)
    category = models.CharField(max_length=24, choices=CostCategory.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    justification = models.TextField(blank=True)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    amends = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="amendments"
    )

    class Meta:
        ordering = ["-fiscal_year", "initiative", "kind", "category"]
        permissions = [("approve_budget", "Approve or reject any unit's budget requests")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="budget_amount_positive"),
            models.CheckConstraint(
                condition=kind_category_condition(),
                name="budget_kind_matches_category",
                violation_error_message="Strategic investment is one-time spend, not operational.",
            ),
            # Separation of duties, enforced by the database too.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("requested_by")),
                name="budget_approver_not_requester",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(approved_by__isnull=False),
                name="budget_approved_has_approver",
            ),
            # One approved line per initiative, year, kind and category, and at most one
            # request (a new line or an amendment) waiting beside it.
            models.UniqueConstraint(
                fields=["initiative", "fiscal_year", "kind", "category"],
                condition=Q(status="approved"),
                name="one_approved_budget_line",
            ),
            models.UniqueConstraint(
                fields=["initiative", "fiscal_year", "kind", "category"],
                condition=Q(status__in=["draft", "requested"]),
                name="one_pending_budget_line",
            ),
        ]
        indexes = [
            models.Index(fields=["business_unit", "fiscal_year", "status"]),
            # The budget list's default sort (newest year first, ties by id).
            models.Index(fields=["fiscal_year", "id"], name="budget_year_id"),
        ]

    def clean(self):
        super().clean()
        problem = kind_category_error(self.kind, self.category)
        if problem:
            raise ValidationError({"category": problem})
        if self.initiative_id and self.status in (self.Status.DRAFT, self.Status.REQUESTED):
            stage = Initiative.objects.filter(pk=self.initiative_id).values_list("stage", flat=True)
            if stage and stage[0] in END_STAGES:
                raise ValidationError(
                    {"initiative": "The initiative has ended; it gets no new budget."}
                )

    def __str__(self) -> str:
        return f"{self.initiative_id} FY{self.fiscal_year} {self.kind}/{self.category} {self.amount} {self.currency}"


class ImportBatch(TimeStampedModel):
    """One run of an import: its progress, counts and the rows it rejected."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to start"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=60)
    filename = models.CharField(max_length=255, blank=True)
    file = models.FileField(upload_to="imports/spend/", blank=True)
    dry_run = models.BooleanField(default=False)
    keep_valid_rows = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_processed = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"{self.source} {self.filename} ({self.status})"


@audited
class SpendEntry(UnitOwned):
    """One posting from the finance system (or entered by hand)."""

    # No single-column indexes on the two foreign keys: the (unit, date) and (initiative,
    # date) indexes below lead with them and serve the same lookups; every index costs
    # each of the million rows a bulk import writes.
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    initiative = models.ForeignKey(
        Initiative, on_delete=models.PROTECT, related_name="spend", db_index=False
    )
    posted_on = models.DateField()
    kind = models.CharField(max_length=12, choices=CostKind.choices)
    category = models.CharField(max_length=24, choices=CostCategory.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    vendor = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=60, default="manual")
    reference = models.CharField(max_length=100, blank=True)
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )
    entered_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-posted_on", "-id"]
        verbose_name_plural = "spend entries"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "reference"],
                condition=~Q(reference=""),
                name="spend_reference_unique_per_source",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="spend_amount_nonzero"),
            models.CheckConstraint(
                condition=in_range("posted_on"),
                name="spend_posted_on_real",
                violation_error_message="The posting date is not a real date.",
            ),
        ]
        indexes = [
            models.Index(fields=["business_unit", "posted_on"]),
            models.Index(fields=["initiative", "posted_on"]),
            # The ledger's default sort (newest first, ties by id): the first page of any
            # scope reads the index backwards instead of sorting the million rows.
            models.Index(fields=["posted_on", "id"], name="spend_posted_on_id"),
        ]

    def __str__(self) -> str:
        return f"{self.posted_on} {self.initiative_id} {self.amount} {self.currency}"


def current_fiscal_year() -> int:
    return timezone.localdate().year


# --- Maintained rollups -----------------------------------------------------------------
#
# Monthly sums of the spend ledger, kept exact by statement-level triggers on
# ``finance_spendentry`` (every INSERT, UPDATE and DELETE, whatever code path runs it:
# the import's set-based statements, the API, forms, the admin, moves of an initiative to
# another unit) and on ``finance_exchangerate`` (a rate change recomputes the months it
# touches). Amounts are converted to the reporting currency with the same dated rate as
# ``finance.selectors`` (exact: products of two decimals, summed unrounded). Read by the
# dashboards instead of the ledger; never written by the app (see finance/rollups.py and
# migration 0010 for the SQL).

ROLLUP_DIGITS = {"max_digits": 32, "decimal_places": 10}


class SpendUnitMonth(models.Model):
    """Spend per unit, month, kind, category and currency."""

    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    month = models.DateField()
    kind = models.CharField(max_length=12, choices=CostKind.choices)
    category = models.CharField(max_length=24, choices=CostCategory.choices)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**ROLLUP_DIGITS, help_text="In the posting currency")
    converted = models.DecimalField(
        **ROLLUP_DIGITS, help_text="In the reporting currency (postings with a rate)"
    )
    missing_entries = models.IntegerField(help_text="Postings with no exchange rate")
    entries = models.IntegerField()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["business_unit", "month", "kind", "category", "currency"],
                name="spend_unit_month_key",
            )
        ]
        indexes = [
            models.Index(fields=["month"], name="spend_unit_month_month"),
            models.Index(fields=["entries"], name="spend_unit_month_empty", condition=Q(entries=0)),
        ]

    def __str__(self) -> str:
        return f"{self.business_unit_id} {self.month:%Y-%m} {self.kind}/{self.category}"


class SpendInitiativeMonth(models.Model):
    """Spend per initiative (and its unit) and month, split by kind."""

    initiative = models.ForeignKey(
        Initiative, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    month = models.DateField()
    one_time = models.DecimalField(**ROLLUP_DIGITS)
    operational = models.DecimalField(**ROLLUP_DIGITS)
    missing_entries = models.IntegerField(help_text="Postings with no exchange rate")
    entries = models.IntegerField()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["initiative", "business_unit", "month"], name="spend_initiative_month_key"
            )
        ]
        indexes = [
            models.Index(fields=["month", "business_unit"], name="spend_init_month_month"),
            # A unit lead's months: a few units' rows of a month range, not every unit's.
            models.Index(fields=["business_unit", "month"], name="spend_init_month_unit"),
            models.Index(fields=["entries"], name="spend_init_month_empty", condition=Q(entries=0)),
            # The months with postings that have no rate (normally none): which currencies
            # lack one is asked of the ledger for these rows only.
            models.Index(
                fields=["month"],
                name="spend_init_month_missing",
                condition=Q(missing_entries__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.initiative_id} {self.month:%Y-%m}"


class SpendInitiativeYear(models.Model):
    """Spend per initiative (and its unit) and calendar year, in the reporting currency:
    ``SpendInitiativeMonth`` summed by year, kept by statement-level triggers on that
    rollup (finance/rollups.py). Read where a year's spend is grouped by something only
    the initiative has (its stage: the PMO home), one row per initiative, not twelve."""

    initiative = models.ForeignKey(
        Initiative, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    year = models.PositiveSmallIntegerField()
    amount = models.DecimalField(**ROLLUP_DIGITS, help_text="One-time plus operational")
    entries = models.IntegerField()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["initiative", "business_unit", "year"], name="spend_initiative_year_key"
            )
        ]
        indexes = [
            models.Index(fields=["year", "business_unit"], name="spend_init_year_year"),
            models.Index(fields=["id"], name="spend_init_year_empty", condition=Q(entries=0)),
        ]

    def __str__(self) -> str:
        return f"{self.initiative_id} {self.year}"


class SpendStageMonth(models.Model):
    """Spend per unit, stage and month, in the reporting currency, by the initiative's
    *current* unit, stage and whether it is closed: ``SpendInitiativeMonth`` summed by
    what its initiative is today (finance/stage_rollup.py). Kept by statement-level
    triggers on that rollup (new postings) and on ``portfolio_initiative`` (a change of
    stage, status or unit moves the initiative's months from one key to the other).
    Read where spend is grouped by stage over a window of months (the scorecard's
    operational share of the production initiatives' last 12 months): a few rows per
    unit and month, not one per initiative and month."""

    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    stage = models.CharField(max_length=24)
    closed = models.BooleanField(help_text="The initiatives' status is closed")
    month = models.DateField()
    one_time = models.DecimalField(**ROLLUP_DIGITS)
    operational = models.DecimalField(**ROLLUP_DIGITS)
    entries = models.IntegerField()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["business_unit", "stage", "closed", "month"], name="spend_stage_month_key"
            )
        ]
        indexes = [
            models.Index(fields=["month", "stage"], name="spend_stage_month_month"),
            models.Index(fields=["id"], name="spend_stage_month_empty", condition=Q(entries=0)),
        ]

    def __str__(self) -> str:
        return f"{self.business_unit_id} {self.stage} {self.month:%Y-%m}"


class BudgetUnitYear(models.Model):
    """Approved budget per unit, fiscal year, kind, category and currency (the sum of its
    approved lines, in the line currency), kept exact by statement-level triggers on
    ``finance_budget`` (finance/budget_rollup.py): the units, kinds and categories of the
    finance dashboards read it instead of every budget line."""

    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    fiscal_year = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=12, choices=CostKind.choices)
    category = models.CharField(max_length=24, choices=CostCategory.choices)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=20, decimal_places=2)
    lines = models.IntegerField(help_text="Approved budget lines summed")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["business_unit", "fiscal_year", "kind", "category", "currency"],
                name="budget_unit_year_key",
            )
        ]
        indexes = [
            models.Index(fields=["fiscal_year"], name="budget_unit_year_year"),
            models.Index(fields=["id"], name="budget_unit_year_empty", condition=Q(lines=0)),
        ]

    def __str__(self) -> str:
        return f"{self.business_unit_id} {self.fiscal_year} {self.kind}/{self.category}"


# --- The maintained value rollup ------------------------------------------------------
#
# Realised value (``finance.selectors.initiative_value`` / ``unit_value``) from the KPI
# periods of ``portfolio.KPIPeriodValue``, in the reporting currency, kept exact by
# statement-level triggers on that rollup, on ``portfolio_kpi`` (baseline, direction,
# value per unit, currency) and on ``finance_exchangerate`` (see finance/value_rollup.py).
# Never written by the app. Amounts are exact products (16 decimal places: a 4-place
# level above baseline x a 4-place value per unit x an 8-place rate).

VALUE_DIGITS = {"max_digits": 52, "decimal_places": 16}


class ValueSegment(models.Model):
    """One KPI period's money: from ``start`` (the period) until ``next`` (the KPI's next
    measured period, or open), the level of the period's latest measurement above the
    baseline x value per unit, converted at the rate of that measurement's day. ``amount``
    is null when that day has no rate for ``currency`` (the KPI's value currency)."""

    kpi = models.ForeignKey(
        "portfolio.KPI", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    initiative = models.ForeignKey(
        Initiative, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    cadence = models.CharField(max_length=10)
    start = models.DateField()
    next = models.DateField(null=True, blank=True)
    measured_on = models.DateField()
    amount = models.DecimalField(**VALUE_DIGITS, null=True, blank=True)
    currency = models.CharField(max_length=3)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kpi", "start"], name="value_segment_key"),
        ]
        indexes = [
            models.Index(fields=["initiative", "start"], name="value_segment_init"),
            models.Index(fields=["measured_on"], name="value_segment_measured"),
        ]

    def __str__(self) -> str:
        return f"{self.kpi_id} from {self.start}: {self.amount}"


class ValueUnitStep(models.Model):
    """Per unit, cadence and period: the change of the unit's value level at that period
    (segments starting there minus segments ending there), and how many segments start
    there. A unit's level in a period is the sum of its steps up to it."""

    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    cadence = models.CharField(max_length=10)
    at = models.DateField()
    amount = models.DecimalField(**VALUE_DIGITS)
    starts = models.IntegerField()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["business_unit", "cadence", "at"], name="value_unit_step_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["id"], name="value_unit_step_empty", condition=Q(amount=0, starts=0)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.business_unit_id} {self.cadence} {self.at}: {self.amount:+}"


class ValueUnitMissing(models.Model):
    """Per unit and value currency: how many segments have no exchange rate."""

    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    currency = models.CharField(max_length=3)
    segments = models.IntegerField()

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["business_unit", "currency"], name="value_unit_missing_key"
            ),
        ]
        indexes = [
            models.Index(fields=["id"], name="value_unit_missing_empty", condition=Q(segments=0)),
        ]

    def __str__(self) -> str:
        return f"{self.business_unit_id} {self.currency}: {self.segments}"


class VarianceMonth(models.Model):
    """Per initiative and month M, the two sums a variance flag for a day in M needs:
    the initiative rollup over [M-3, M-1] and the approved budget of M's year, plus the
    generated ``run_rate`` and ``over_pct`` (SQL only). Kept exact by triggers on the
    initiative rollup, the budgets and the rates (finance/variance.py); read by
    ``finance.selectors.variance_flags`` for users who see every unit."""

    initiative = models.ForeignKey(
        Initiative,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    month = models.DateField()
    window_spend = models.DecimalField(**ROLLUP_DIGITS)
    budget = models.DecimalField(**ROLLUP_DIGITS)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["initiative", "month"], name="variance_month_key")
        ]

    def __str__(self) -> str:
        return f"{self.initiative_id} {self.month:%Y-%m}"


# FOCUS cloud bills live in their own module; imported here so Django registers them.
from finance.focus.models import (  # noqa: E402, F401
    AllocationRule,
    FocusImport,
    FocusLine,
    FocusSettings,
    ServiceCategoryMapping,
)
