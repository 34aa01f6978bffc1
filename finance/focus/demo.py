"""A year of FOCUS-shaped cloud bills for the demo bank: three providers, one billing
account each, monthly billing periods; most lines tagged ``ai-initiative: <code>``, some
by sub-account only, some untagged (so the unallocated page has something to show);
managed-model token charges; a few credits. Imported through ``focus_import``, the path
finance uses, and allocated by two rules."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import zlib

PROVIDERS = {
    "AWS": {
        "account": "123456789012",
        "subs": ["210000000001", "210000000002", "210000000003"],
        "services": [
            ("AmazonEC2", "Compute", "Hours", 120),
            ("AmazonS3", "Storage", "GB-Months", 25),
            ("Amazon Bedrock", "AI and Machine Learning", "1K Tokens", 90),
            ("AmazonSageMaker", "AI and Machine Learning", "Hours", 160),
        ],
        "models": ["anthropic.claude-sonnet", "amazon.titan-embed"],
    },
    "Microsoft Azure": {
        "account": "8a1b2c3d-0000-4a00-9000-00000000d3m0",
        "subs": ["sub-retail-ai", "sub-risk-ai", "sub-shared"],
        "services": [
            ("Virtual Machines", "Compute", "Hours", 110),
            ("Azure OpenAI", "AI and Machine Learning", "1K Tokens", 140),
            ("Azure SQL Database", "Databases", "Hours", 40),
        ],
        "models": ["gpt-4o", "gpt-4o-mini"],
    },
    "Google Cloud": {
        "account": "01A2B3-C4D5E6-DEMO00",
        "subs": ["bank-ml-prod", "bank-ml-dev"],
        "services": [
            ("Vertex AI", "AI and Machine Learning", "1K Tokens", 70),
            ("BigQuery", "Analytics", "TiB", 35),
            ("Compute Engine", "Compute", "Hours", 60),
        ],
        "models": ["gemini-1.5-pro", "gemini-1.5-flash"],
    },
}
COLUMNS = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingQuantity",
    "PricingUnit",
    "ServiceProviderName",
    "HostProviderName",
    "InvoiceIssuerName",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceDetails",
    "SubAccountId",
    "ResourceId",
    "ResourceName",
    "Tags",
]


def _month(day: dt.date, back: int) -> dt.date:
    year, month = day.year, day.month - back
    while month < 1:
        month += 12
        year -= 1
    return dt.date(year, month, 1)


def demo_focus_csv(*, codes: list[str], today: dt.date, rng: random.Random) -> bytes:
    """Twelve complete months before ``today``'s month, as one FOCUS 1.3 CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for back in range(12, 0, -1):
        start = _month(today, back)
        end = _month(today, back - 1)
        for provider, spec in PROVIDERS.items():
            for code in codes:
                tagged = rng.random() < 0.85
                for service, category, unit, scale in spec["services"]:
                    if rng.random() < 0.35:
                        continue
                    cost = round(scale * rng.uniform(0.3, 1.6) * (1 + back / 40), 2)
                    day = start + dt.timedelta(days=rng.randint(0, 27))
                    details, quantity = "", round(rng.uniform(10, 700), 2)
                    if unit == "1K Tokens":
                        model = rng.choice(spec["models"])
                        for token_type, share in (("input", 0.35), ("output", 0.65)):
                            details = json.dumps({"x_ModelName": model, "x_TokenType": token_type})
                            writer.writerow(
                                _row(
                                    provider,
                                    spec,
                                    start,
                                    end,
                                    day,
                                    service,
                                    category,
                                    unit,
                                    round(cost * share, 2),
                                    round(quantity * (3 if token_type == "input" else 1), 2),
                                    details,
                                    code,
                                    tagged,
                                    rng,
                                )
                            )
                        continue
                    writer.writerow(
                        _row(
                            provider,
                            spec,
                            start,
                            end,
                            day,
                            service,
                            category,
                            unit,
                            cost,
                            quantity,
                            details,
                            code,
                            tagged,
                            rng,
                        )
                    )
            # One credit a quarter per provider, on the first initiative's resources.
            if back % 3 == 0:
                writer.writerow(
                    _row(
                        provider,
                        spec,
                        start,
                        end,
                        start,
                        spec["services"][0][0],
                        spec["services"][0][1],
                        "",
                        -50.0,
                        None,
                        "",
                        codes[0],
                        True,
                        rng,
                        charge_category="Credit",
                        frequency="One-Time",
                    )
                )
    return out.getvalue().encode()


def _row(
    provider,
    spec,
    start,
    end,
    day,
    service,
    category,
    unit,
    cost,
    quantity,
    details,
    code,
    tagged,
    rng,
    charge_category="Usage",
    frequency="Usage-Based",
):
    sub = spec["subs"][zlib.crc32(code.encode()) % len(spec["subs"])]
    resource = f"{service.lower().replace(' ', '-')}/{code.lower()}"
    tags = json.dumps({"ai-initiative": code, "env": "prod"}) if tagged else ""
    amount = f"{cost:.2f}"
    return [
        amount,
        amount,
        amount,
        amount,
        spec["account"],
        f"{provider} enterprise",
        "USD",
        f"{start}T00:00:00Z",
        f"{end}T00:00:00Z",
        f"{day}T00:00:00Z",
        f"{day}T23:59:59Z",
        charge_category,
        "",
        f"{service} {charge_category.lower()}",
        frequency,
        "" if quantity is None else f"{quantity}",
        unit,
        "" if quantity is None else f"{quantity}",
        unit,
        provider,
        provider,
        provider,
        category,
        service,
        f"SKU-{service[:6]}",
        details,
        sub,
        resource if tagged or rng.random() < 0.5 else f"{resource}-untagged",
        resource,
        tags,
    ]


def seed_focus_demo(*, acting_user, initiatives, today: dt.date, seed: int = 18) -> None:
    """Import the demo's cloud bills and allocate them (tag rule + one sub-account rule)."""
    from finance.focus.services import allocation_rule_create, focus_import

    initiatives = list(initiatives)
    if not initiatives:
        return
    codes = [i.code for i in initiatives]
    allocation_rule_create(
        acting_user=acting_user, name="Initiative tag", priority=10, tag_key="ai-initiative"
    )
    allocation_rule_create(
        acting_user=acting_user,
        name="Risk AI subscription",
        priority=50,
        sub_account_id="sub-risk-ai",
        initiative=initiatives[-1],
    )
    data = demo_focus_csv(codes=codes, today=today, rng=random.Random(seed))
    focus_import(acting_user=acting_user, file=io.BytesIO(data), filename="demo-cloud-bills.csv")
