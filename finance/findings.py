"""Read-only selector for the budget variance job: initiatives burning money faster than
their approved budget allows. Same shape as ``portfolio.findings``.

The rule itself is finance's (``finance.selectors.variance_flags``: annualised run rate
over the approved budget by more than ``FINANCE_VARIANCE_ALERT_PCT``, currency-aware);
this module only turns its flags into findings and names the funder and the accountable
executive.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from finance.selectors import ALL_UNITS, variance_flags
from people.roles import FINANCE
from portfolio.findings import Finding, ids, initiative_url
from portfolio.models import Assignment

Role = Assignment.Role


def budget_variance(*, today: dt.date, pct: Decimal | int | None = None) -> list[Finding]:
    """Initiatives whose run rate for the fiscal year of ``today`` exceeds their approved
    budget by more than ``pct`` percent (default from settings), or that spend with no
    approved budget at all. Told to the unit's leads, the funder, the accountable
    executive and Finance."""
    flags = variance_flags(user=ALL_UNITS, threshold_pct=pct, as_of=today, fiscal_year=today.year)
    if not flags:
        return []
    named: dict[int, list[int]] = {}
    for initiative_id, user_id in Assignment.objects.filter(
        initiative_id__in=[f.initiative_id for f in flags],
        role__in=[Role.FUNDER, Role.ACCOUNTABLE_EXECUTIVE],
    ).values_list("initiative_id", "user_id"):
        named.setdefault(initiative_id, []).append(user_id)
    findings = []
    for f in flags:
        if f.over_pct is None:
            title = f"{f.initiative_code}: spending with no approved FY{f.fiscal_year} budget"
            body = (
                f"{f.initiative_name} is spending at a rate of {f.run_rate:,.2f} {f.currency} "
                f"a year with no approved budget."
            )
        else:
            title = f"{f.initiative_code}: run rate {f.over_pct:.0f}% above its FY{f.fiscal_year} budget"
            body = (
                f"{f.initiative_name} is spending at a rate of {f.run_rate:,.2f} {f.currency} a "
                f"year against an approved {f.budget:,.2f} {f.currency}."
            )
        if f.missing_rates:
            body += (
                f" No exchange rate for {', '.join(f.missing_rates)}: those postings are left out."
            )
        findings.append(
            Finding(
                kind="budget_variance",
                key=f"budget_variance:{f.initiative_id}:{f.fiscal_year}",
                business_unit_id=f.business_unit_id,
                title=title,
                body=body,
                url=initiative_url(f.initiative_id),
                user_ids=ids(*named.get(f.initiative_id, [])),
                groups=(FINANCE,),
            )
        )
    return findings
