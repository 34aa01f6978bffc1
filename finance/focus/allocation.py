"""Allocation of FOCUS lines to initiatives, and their postings in the ledger; both
set-based, in the caller's transaction.

``allocate`` gives each line the first active rule (lowest priority, then oldest) whose
conditions all match, or none; lines whose allocation does not change are not touched.

``sync_postings`` makes the ledger's ``source="focus"`` postings equal to the allocated
lines grouped by (billing account, billing period, initiative, charge month, kind,
category, currency, provider, charge category, charge class), the amount being the sum
of the chosen cost basis rounded to the cent. Kind: ChargeFrequency ``One-Time`` is
one-time spend, ``Recurring``/``Usage-Based`` (or none) operational. Category: the
ServiceCategory table. Credits, adjustments, taxes and corrections are their own
postings (their vendor says which), never netted into usage. A posting's reference is a
hash of its group, so re-running changes nothing, a changed group is one UPDATE and a
vanished one a DELETE: the ledger's triggers (audit, rollups) see ordinary writes.
"""

from __future__ import annotations

from finance.focus.models import DEFAULT_SERVICE_CATEGORIES, LEDGER_SOURCE

#: The table's defaults, used for a ServiceCategory that has no row (the table's rows win).
_DEFAULTS = ", ".join(f"('{k}', '{v}')" for k, v in DEFAULT_SERVICE_CATEGORIES.items())

#: The spend import's advisory lock key for writes to one ledger source (imports.py).
_LEDGER_LOCK = 0x5E4D


def allocate(cursor, *, where: str = "TRUE", params: list | None = None) -> int:
    """Allocate the lines matching ``where`` (SQL on ``l``); returns lines changed."""
    params = params or []
    cursor.execute("DROP TABLE IF EXISTS focus_alloc")
    cursor.execute(
        f"""
        CREATE TEMP TABLE focus_alloc ON COMMIT DROP AS
        SELECT DISTINCT ON (l.id) l.id, r.id AS rule_id, r.version AS rule_version,
               COALESCE(ii.id, ic.id) AS initiative_id,
               COALESCE(ii.business_unit_id, ic.business_unit_id) AS business_unit_id
        FROM finance_focusline l
        JOIN finance_allocationrule r ON r.active
             AND (r.tag_key = '' OR (l.tags ? r.tag_key
                  AND (r.tag_value = '' OR l.tags->>r.tag_key = r.tag_value)))
             AND (r.sub_account_id = '' OR l.sub_account_id = r.sub_account_id)
             AND (r.service_name = '' OR l.service_name = r.service_name)
             AND (r.sku_id = '' OR l.sku_id = r.sku_id)
        LEFT JOIN portfolio_initiative ii ON ii.id = r.initiative_id
        LEFT JOIN portfolio_initiative ic
               ON r.initiative_id IS NULL AND ic.code = l.tags->>r.tag_key
        WHERE ({where}) AND (ii.id IS NOT NULL OR ic.id IS NOT NULL)
        ORDER BY l.id, r.priority, r.id
        """,
        params,
    )
    cursor.execute(
        """
        UPDATE finance_focusline l
        SET initiative_id = a.initiative_id, business_unit_id = a.business_unit_id,
            rule_id = a.rule_id, rule_version = a.rule_version
        FROM focus_alloc a
        WHERE a.id = l.id AND (l.initiative_id, l.business_unit_id, l.rule_id, l.rule_version)
              IS DISTINCT FROM (a.initiative_id, a.business_unit_id, a.rule_id, a.rule_version)
        """
    )
    changed = cursor.rowcount
    cursor.execute(
        f"""
        UPDATE finance_focusline l
        SET initiative_id = NULL, business_unit_id = NULL, rule_id = NULL, rule_version = NULL
        WHERE ({where}) AND (l.initiative_id IS NOT NULL OR l.rule_id IS NOT NULL)
          AND NOT EXISTS (SELECT 1 FROM focus_alloc a WHERE a.id = l.id)
        """,
        params,
    )
    return changed + cursor.rowcount


def sync_postings(cursor, *, cost_basis: str, acting_user_id: int | None) -> dict[str, int]:
    """Make the ledger's FOCUS postings match the allocated lines (see the module doc)."""
    cost = "effective_cost" if cost_basis == "effective" else "billed_cost"
    cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LEDGER_LOCK, LEDGER_SOURCE])
    cursor.execute("DROP TABLE IF EXISTS focus_desired")
    cursor.execute(
        f"""
        CREATE TEMP TABLE focus_desired ON COMMIT DROP AS
        SELECT 'focus:' || md5(concat_ws('|', g.billing_account_id, g.billing_period_start,
                   g.initiative_id, g.posted_on, g.kind, g.category, g.currency, g.provider,
                   g.charge_category, g.charge_class)) AS reference,
               g.initiative_id, g.business_unit_id, g.posted_on, g.kind, g.category,
               g.currency, left(g.provider || ' · ' || g.charge_category
                   || CASE WHEN g.charge_class <> '' THEN ' (' || lower(g.charge_class) || ')'
                           ELSE '' END, 200) AS vendor,
               g.amount
        FROM (
            SELECT l.billing_account_id, l.billing_period_start, l.initiative_id,
                   l.business_unit_id,
                   date_trunc('month', l.charge_period_start AT TIME ZONE 'UTC')::date
                       AS posted_on,
                   CASE WHEN l.charge_frequency = 'One-Time' THEN 'one_time'
                        ELSE 'operational' END AS kind,
                   COALESCE(m.cost_category, dflt.cost_category, 'vendor') AS category,
                   l.billing_currency AS currency, COALESCE(NULLIF(l.provider, ''), 'Cloud')
                       AS provider,
                   l.charge_category, l.charge_class,
                   round(SUM(l.{cost}), 2) AS amount
            FROM finance_focusline l
            LEFT JOIN finance_servicecategorymapping m
                   ON m.service_category = l.service_category
            LEFT JOIN (VALUES {_DEFAULTS}) dflt(service_category, cost_category)
                   ON dflt.service_category = l.service_category
            WHERE l.initiative_id IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
        ) g
        WHERE g.amount <> 0
        """
    )
    cursor.execute("ANALYZE focus_desired")
    cursor.execute(
        """DELETE FROM finance_spendentry e
           WHERE e.source = %s AND NOT EXISTS (
               SELECT 1 FROM focus_desired d WHERE d.reference = e.reference)""",
        [LEDGER_SOURCE],
    )
    deleted = cursor.rowcount
    cursor.execute(
        """UPDATE finance_spendentry e
           SET initiative_id = d.initiative_id, business_unit_id = d.business_unit_id,
               posted_on = d.posted_on, kind = d.kind, category = d.category,
               amount = d.amount, currency = d.currency, vendor = d.vendor, updated_at = NOW()
           FROM focus_desired d
           WHERE e.source = %s AND e.reference = d.reference
             AND (e.initiative_id, e.business_unit_id, e.posted_on, e.kind, e.category,
                  e.amount, e.currency, e.vendor)
                 IS DISTINCT FROM (d.initiative_id, d.business_unit_id, d.posted_on, d.kind,
                  d.category, d.amount, d.currency, d.vendor)""",
        [LEDGER_SOURCE],
    )
    updated = cursor.rowcount
    cursor.execute(
        """INSERT INTO finance_spendentry (
               created_at, updated_at, business_unit_id, initiative_id, posted_on, kind,
               category, amount, currency, vendor, source, reference, entered_by_id)
           SELECT NOW(), NOW(), d.business_unit_id, d.initiative_id, d.posted_on, d.kind,
                  d.category, d.amount, d.currency, d.vendor, %s, d.reference, %s
           FROM focus_desired d
           WHERE NOT EXISTS (SELECT 1 FROM finance_spendentry e
                             WHERE e.source = %s AND e.reference = d.reference)""",
        [LEDGER_SOURCE, acting_user_id, LEDGER_SOURCE],
    )
    return {"created": cursor.rowcount, "updated": updated, "deleted": deleted}
