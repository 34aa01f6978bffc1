"""What the FOCUS specification (FinOps Open Cost and Usage Specification, cost and usage
dataset, versions 1.0 to 1.3) says that the import relies on: the mandatory columns of
each version, the columns that tell versions apart, and the allowed values."""

from __future__ import annotations

SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2", "1.3")

_MANDATORY_1_0 = frozenset(
    {
        "BilledCost",
        "BillingAccountId",
        "BillingAccountName",
        "BillingCurrency",
        "BillingPeriodEnd",
        "BillingPeriodStart",
        "ChargeCategory",
        "ChargeClass",
        "ChargeDescription",
        "ChargePeriodEnd",
        "ChargePeriodStart",
        "ContractedCost",
        "EffectiveCost",
        "InvoiceIssuerName",
        "ListCost",
        "PricingQuantity",
        "PricingUnit",
        "ProviderName",
        "PublisherName",
        "ServiceCategory",
        "ServiceName",
    }
)

#: Mandatory columns per version. 1.3 replaced ProviderName/PublisherName (deprecated)
#: with ServiceProviderName/HostProviderName.
MANDATORY: dict[str, frozenset[str]] = {
    "1.0": _MANDATORY_1_0,
    "1.1": _MANDATORY_1_0,
    "1.2": _MANDATORY_1_0,
    "1.3": (_MANDATORY_1_0 - {"ProviderName", "PublisherName"})
    | {"ServiceProviderName", "HostProviderName"},
}

#: Columns introduced by a version (newest first): the newest version whose columns a
#: header holds is the file's version.
INTRODUCED: list[tuple[str, frozenset[str]]] = [
    ("1.4", frozenset({"InvoiceDetailId", "CommitmentProgramEligibilityDetails"})),
    (
        "1.3",
        frozenset(
            {
                "ServiceProviderName",
                "HostProviderName",
                "ContractApplied",
                "AllocatedMethodId",
                "AllocatedMethodDetails",
                "AllocatedResourceId",
                "AllocatedResourceName",
                "AllocatedTags",
            }
        ),
    ),
    (
        "1.2",
        frozenset(
            {
                "InvoiceId",
                "BillingAccountType",
                "SubAccountType",
                "PricingCurrency",
                "PricingCurrencyContractedUnitPrice",
                "PricingCurrencyEffectiveCost",
                "PricingCurrencyListUnitPrice",
            }
        ),
    ),
    (
        "1.1",
        frozenset(
            {
                "CapacityReservationId",
                "CapacityReservationStatus",
                "CommitmentDiscountQuantity",
                "CommitmentDiscountUnit",
                "ServiceSubcategory",
                "SkuMeter",
                "SkuPriceDetails",
            }
        ),
    ),
]

#: A header with fewer than this many of these columns is not a FOCUS cost-and-usage file.
CORE = (
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "BillingAccountId",
    "BillingPeriodStart",
    "ChargePeriodStart",
    "ChargeCategory",
    "ServiceName",
)
CORE_MINIMUM = 4

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
CHARGE_CLASSES = ("Correction",)
CHARGE_FREQUENCIES = ("One-Time", "Recurring", "Usage-Based")
SERVICE_CATEGORIES = (
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
)
AI_SERVICE_CATEGORY = "AI and Machine Learning"

#: The FOCUS columns the import reads (others in the file are accepted and ignored).
USED = (
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "BillingAccountId",
    "BillingAccountName",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "ChargeDescription",
    "ServiceCategory",
    "ServiceName",
    "ServiceProviderName",
    "ProviderName",
    "SubAccountId",
    "SubAccountName",
    "ResourceId",
    "ResourceName",
    "SkuId",
    "SkuPriceId",
    "SkuMeter",
    "SkuPriceDetails",
    "ConsumedQuantity",
    "ConsumedUnit",
    "Tags",
)


class FocusFormatError(ValueError):
    """The file as a whole is refused (not FOCUS, unknown version, missing column, ...)."""


def normalise_version(declared: str) -> str:
    text = (declared or "").strip().lower().removeprefix("v")
    parts = text.split("-")[0].split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        return f"{int(parts[0])}.{int(parts[1])}"
    return text


def check_header(columns: list[str], declared: str = "") -> str:
    """The FOCUS version of a file with this header, or ``FocusFormatError`` naming what
    is wrong: not a FOCUS file, an unknown or unsupported version, a missing mandatory
    column."""
    present = set(columns)
    core = [c for c in CORE if c in present]
    if len(core) < CORE_MINIMUM:
        raise FocusFormatError(
            "This is not a FOCUS cost and usage file: its header names "
            f"{len(core)} of the FOCUS columns {', '.join(CORE)} (at least "
            f"{CORE_MINIMUM} are expected; column names are case-sensitive)."
        )
    duplicates = sorted({c for c in columns if columns.count(c) > 1 and c})
    if duplicates:
        raise FocusFormatError(f"The header names these columns twice: {', '.join(duplicates)}.")
    detected = "1.0"
    for version, introduced in INTRODUCED:
        if present & introduced:
            detected = version
            break
    supported = ", ".join(SUPPORTED_VERSIONS)
    if declared:
        version = normalise_version(declared)
        if version not in SUPPORTED_VERSIONS:
            raise FocusFormatError(
                f"Unknown FOCUS version {declared.strip()!r}: this app reads FOCUS {supported}."
            )
    else:
        version = detected
        if version not in SUPPORTED_VERSIONS:
            marker = sorted(present & dict(INTRODUCED)[version])
            raise FocusFormatError(
                f"This file looks like FOCUS {version} (it has {', '.join(marker)}), a version "
                f"this app does not read: it reads FOCUS {supported}."
            )
    missing = sorted(MANDATORY[version] - present)
    if missing:
        raise FocusFormatError(
            f"Missing mandatory FOCUS {version} column"
            f"{'s' if len(missing) > 1 else ''}: {', '.join(missing)}."
        )
    return version
