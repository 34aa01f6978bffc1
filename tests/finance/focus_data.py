"""FOCUS test files, made here: a row builder with the mandatory columns of FOCUS 1.3
(or 1.2) filled in, and provider-realistic samples from ``focus-data-toolkit``."""

from __future__ import annotations

import csv
import gzip
import io
import json
from decimal import Decimal
from pathlib import Path

COLUMNS_1_3 = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "HostProviderName",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ResourceId",
    "ResourceName",
    "ServiceCategory",
    "ServiceName",
    "ServiceProviderName",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
]
COLUMNS_1_2 = [c for c in COLUMNS_1_3 if c not in ("HostProviderName", "ServiceProviderName")] + [
    "InvoiceId"
]


def line(
    cost: str,
    *,
    provider: str = "AWS",
    account: str = "100000000001",
    period: str = "2026-05",
    day: int = 3,
    service: str = "AmazonEC2",
    service_category: str = "Compute",
    category: str = "Usage",
    frequency: str = "Usage-Based",
    charge_class: str = "",
    sub_account: str = "200000000011",
    resource: str = "i-0001",
    tags: dict | None = None,
    sku: str = "SKU-1",
    effective: str | None = None,
    currency: str = "USD",
    quantity: str = "1",
    unit: str = "Hours",
    details: dict | None = None,
    meter: str = "",
    description: str = "",
) -> dict[str, str]:
    year, month = (int(x) for x in period.split("-"))
    end = f"{year + (month == 12)}-{month % 12 + 1:02d}-01T00:00:00Z"
    return {
        "BilledCost": cost,
        "EffectiveCost": effective if effective is not None else cost,
        "ListCost": cost,
        "ContractedCost": cost,
        "BillingAccountId": account,
        "BillingAccountName": f"{provider} billing {account}",
        "BillingCurrency": currency,
        "BillingPeriodStart": f"{period}-01T00:00:00Z",
        "BillingPeriodEnd": end,
        "ChargePeriodStart": f"{period}-{day:02d}T00:00:00Z",
        "ChargePeriodEnd": f"{period}-{day:02d}T01:00:00Z",
        "ChargeCategory": category,
        "ChargeClass": charge_class,
        "ChargeDescription": description or f"{service} {category.lower()}",
        "ChargeFrequency": frequency,
        "ConsumedQuantity": quantity if category == "Usage" else "",
        "ConsumedUnit": unit if category == "Usage" else "",
        "HostProviderName": provider,
        "ServiceProviderName": provider,
        "ProviderName": provider,
        "PublisherName": provider,
        "InvoiceIssuerName": provider,
        "InvoiceId": f"INV-{period}",
        "PricingQuantity": quantity,
        "PricingUnit": unit,
        "ResourceId": resource,
        "ResourceName": resource,
        "ServiceCategory": service_category,
        "ServiceName": service,
        "SkuId": sku,
        "SkuPriceId": f"{sku}-P",
        "SkuMeter": meter,
        "SkuPriceDetails": json.dumps(details) if details else "",
        "SubAccountId": sub_account,
        "SubAccountName": f"sub {sub_account}",
        "Tags": json.dumps(tags) if tags is not None else "",
    }


def token_line(
    cost: str, *, model: str, token_type: str, tokens: str, tags: dict | None = None, **kw
) -> dict[str, str]:
    """A managed-model API charge billed per 1,000 tokens."""
    kw.setdefault("service", "Amazon Bedrock")
    kw.setdefault("provider", "AWS")
    return line(
        cost,
        service_category="AI and Machine Learning",
        unit="1K Tokens",
        quantity=tokens,
        details={"x_ModelName": model, "x_TokenType": token_type},
        meter=f"{token_type.title()} Tokens",
        tags=tags,
        resource=f"model/{model}",
        sku=f"SKU-{model}-{token_type}",
        **kw,
    )


def csv_bytes(rows: list[dict], *, version: str = "1.3", drop: tuple[str, ...] = ()) -> bytes:
    columns = [c for c in (COLUMNS_1_3 if version == "1.3" else COLUMNS_1_2) if c not in drop]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def gzip_bytes(rows: list[dict], **kw) -> bytes:
    return gzip.compress(csv_bytes(rows, **kw))


def parquet_bytes(rows: list[dict], *, version: str = "1.3") -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = COLUMNS_1_3 if version == "1.3" else COLUMNS_1_2
    table = pa.table(
        {c: [r.get(c) or None for r in rows] for c in columns}  # empty cells as nulls
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def toolkit_file(tmp_path: Path, provider: str, *, version: str = "1.3", rows: int = 200) -> Path:
    """A provider-realistic FOCUS file generated by ``focus-data-toolkit``'s CLI."""
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable,
            "-m",
            "focus_data_toolkit",
            "generate",
            "--provider",
            provider,
            "--focus-version",
            version,
            "--rows",
            str(rows),
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    return tmp_path / f"focus_{version.replace('.', '_')}_cost_and_usage_{provider}.csv"


def csv_total(path_or_bytes, column: str = "EffectiveCost", where=None) -> Decimal:
    """The exact sum of a cost column of a CSV file, computed in Python."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    return sum((Decimal(r[column] or 0) for r in reader if where is None or where(r)), Decimal(0))
