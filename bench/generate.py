"""A seeded generator of finance-system postings (the spend import's file format)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

KINDS = ("one_time", "operational")
CATEGORIES = (
    "compute",
    "personnel",
    "tooling",
    "security",
    "data",
    "vendor",
    "retraining",
    "risk_reserve",
)
CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP")
VENDORS = ("Cloud Co", "Vendor AG", "Data Ltd", "Model Labs", "Contractors Inc", "")


def initiative_codes(count: int) -> list[str]:
    return [f"BENCH-{i:04d}" for i in range(1, count + 1)]


def generate_spend_csv(
    path: Path, *, rows: int, initiatives: int = 200, seed: int = 42, source_tag: str = "B"
) -> Path:
    """Write ``rows`` postings to ``path`` (deterministic for a seed), streaming."""
    rng = random.Random(seed)
    codes = initiative_codes(initiatives)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["date", "initiative", "kind", "category", "amount", "currency", "vendor", "reference"]
        )
        for i in range(rows):
            writer.writerow(
                [
                    f"{rng.choice((2025, 2026))}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    rng.choice(codes),
                    rng.choice(KINDS),
                    rng.choice(CATEGORIES),
                    f"{rng.randint(1, 5_000_000) / 100:.2f}",
                    rng.choice(CURRENCIES),
                    rng.choice(VENDORS),
                    f"{source_tag}-{i:09d}",
                ]
            )
    tmp.replace(path)
    return path
