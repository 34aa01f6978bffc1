"""FOCUS cost lines, the rules that allocate them to initiatives, the ServiceCategory ->
cost category table and the cost-basis setting.

Allocated lines reach the ledger as ``SpendEntry`` postings (source ``"focus"``), one per
(billing account, billing period, initiative, charge month, kind, category, currency,
provider, charge category, charge class): so every money page, rollup and export counts
them with no code of its own, and credits, adjustments, taxes and corrections stay
separate postings, never netted into usage. See ``finance/focus/allocation.py``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from finance.models import CostCategory
from people.audit import audited
from people.models import BusinessUnit, TimeStampedModel
from portfolio.models import Initiative
from portfolio.querysets import ScopedQuerySet

User = settings.AUTH_USER_MODEL

#: The posting source of allocated FOCUS spend in the ledger.
LEDGER_SOURCE = "focus"


class CostBasis(models.TextChoices):
    EFFECTIVE = "effective", "EffectiveCost (amortised, after discounts)"
    BILLED = "billed", "BilledCost (as invoiced)"


@audited
class FocusSettings(TimeStampedModel):
    """One row: which FOCUS cost the ledger counts. Both costs are always stored."""

    cost_basis = models.CharField(max_length=10, choices=CostBasis.choices, default="effective")
    changed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "FOCUS settings"
        verbose_name_plural = "FOCUS settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="focus_settings_single_row")]

    def __str__(self) -> str:
        return f"FOCUS cost basis: {self.cost_basis}"

    @classmethod
    def current(cls) -> FocusSettings:
        """The settings row, or the defaults while nobody has saved any (no write)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)


@audited
class ServiceCategoryMapping(TimeStampedModel):
    """FOCUS ``ServiceCategory`` -> the app's cost category (finance edits it)."""

    service_category = models.CharField(max_length=60, unique=True)
    cost_category = models.CharField(max_length=24, choices=CostCategory.choices)

    class Meta:
        ordering = ["service_category"]

    def __str__(self) -> str:
        return f"{self.service_category} -> {self.cost_category}"


@audited
class AllocationRule(TimeStampedModel):
    """Claims FOCUS lines for an initiative. Every condition that is filled in must match
    (tag key/value, sub-account, service, SKU); the lowest ``priority`` wins. With a tag
    key and no initiative, the tag's value names the initiative by its code (one rule for
    ``ai-initiative: <code>`` tags). ``version`` grows with every edit and each line keeps
    the version that allocated it; the audit trail keeps every version's fields."""

    name = models.CharField(max_length=120)
    priority = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    tag_key = models.CharField(max_length=200, blank=True)
    tag_value = models.CharField(max_length=400, blank=True)
    sub_account_id = models.CharField(max_length=200, blank=True)
    service_name = models.CharField(max_length=200, blank=True)
    sku_id = models.CharField(max_length=200, blank=True)
    initiative = models.ForeignKey(
        Initiative, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(tag_key="", sub_account_id="", service_name="", sku_id=""),
                name="allocation_rule_has_a_condition",
            ),
            models.CheckConstraint(
                condition=Q(initiative__isnull=False) | ~Q(tag_key="") & Q(tag_value=""),
                name="allocation_rule_has_a_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.priority}: {self.name}"

    def conditions(self) -> str:
        parts = []
        if self.tag_key:
            parts.append(f"tag {self.tag_key} = {self.tag_value or '<initiative code>'}")
        if self.sub_account_id:
            parts.append(f"sub-account {self.sub_account_id}")
        if self.service_name:
            parts.append(f"service {self.service_name}")
        if self.sku_id:
            parts.append(f"SKU {self.sku_id}")
        return ", ".join(parts)


class FocusImport(TimeStampedModel):
    """One FOCUS file imported (or refused): what it replaced and its report."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    filename = models.CharField(max_length=255, blank=True)
    focus_version = models.CharField(max_length=10, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"FOCUS {self.filename} ({self.status})"


class FocusLine(models.Model):
    """One row of a FOCUS cost-and-usage file. ``business_unit`` is the allocated
    initiative's unit, null while unallocated: such lines are seen only by global roles
    (finance, PMO, auditors), never by a unit."""

    focus_import = models.ForeignKey(
        FocusImport,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    line_key = models.CharField(max_length=32)
    content_hash = models.CharField(max_length=32)
    row_no = models.PositiveIntegerField()
    provider = models.CharField(max_length=200, blank=True)
    billing_account_id = models.CharField(max_length=200)
    billing_account_name = models.CharField(max_length=400, blank=True)
    billing_period_start = models.DateTimeField()
    billing_period_end = models.DateTimeField()
    charge_period_start = models.DateTimeField()
    charge_period_end = models.DateTimeField()
    charge_category = models.CharField(max_length=20)
    charge_class = models.CharField(max_length=20, blank=True)
    charge_frequency = models.CharField(max_length=20, blank=True)
    charge_description = models.TextField(blank=True)
    billed_cost = models.DecimalField(max_digits=38, decimal_places=15)
    effective_cost = models.DecimalField(max_digits=38, decimal_places=15)
    billing_currency = models.CharField(max_length=3)
    service_category = models.CharField(max_length=60)
    service_name = models.CharField(max_length=200)
    sub_account_id = models.CharField(max_length=200, blank=True)
    sub_account_name = models.CharField(max_length=400, blank=True)
    resource_id = models.TextField(blank=True)
    resource_name = models.TextField(blank=True)
    sku_id = models.CharField(max_length=200, blank=True)
    sku_price_id = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    consumed_quantity = models.DecimalField(max_digits=38, decimal_places=15, null=True, blank=True)
    consumed_unit = models.CharField(max_length=100, blank=True)
    ai_model = models.CharField(max_length=200, blank=True)
    token_type = models.CharField(max_length=60, blank=True)
    token_count = models.DecimalField(max_digits=38, decimal_places=6, null=True, blank=True)
    initiative = models.ForeignKey(
        Initiative,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    business_unit = models.ForeignKey(
        BusinessUnit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    rule = models.ForeignKey(
        AllocationRule,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    rule_version = models.PositiveIntegerField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["charge_period_start", "id"]
        indexes = [
            models.Index(
                fields=["billing_account_id", "billing_period_start"], name="focus_line_period"
            ),
            models.Index(fields=["initiative", "charge_period_start"], name="focus_line_init"),
            models.Index(fields=["business_unit"], name="focus_line_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.service_name} {self.charge_period_start:%Y-%m-%d}"

    @property
    def unallocated(self) -> bool:
        return self.initiative_id is None


#: Defaults for the ServiceCategory table (FOCUS 1.0-1.3 allowed values).
DEFAULT_SERVICE_CATEGORIES = {
    "AI and Machine Learning": "compute",
    "Analytics": "data",
    "Business Applications": "vendor",
    "Compute": "compute",
    "Databases": "data",
    "Developer Tools": "tooling",
    "Multicloud": "compute",
    "Identity": "security",
    "Integration": "tooling",
    "Internet of Things": "compute",
    "Management and Governance": "tooling",
    "Media": "compute",
    "Migration": "compute",
    "Mobile": "compute",
    "Networking": "compute",
    "Security": "security",
    "Storage": "data",
    "Web": "compute",
    "Other": "vendor",
}
