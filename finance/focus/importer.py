"""The FOCUS import, set-based: staged rows -> one typed, checked table -> the period's
replacement -> allocation -> ledger postings. The caller owns the transaction, so a
refused file writes nothing.

1. **Load** (``reader.load``): COPY into ``focus_staging``.
2. **Check** in one statement (``focus_checked``): every value typed once, each problem a
   ``(row, column, reason)``: missing values of mandatory columns, numbers, date-times,
   values outside the specification's allowed lists, Tags and SkuPriceDetails that are
   not JSON objects, a BillingCurrency the app holds no rate for. The statement first
   runs with plain casts guarded by shape checks; if a value still cannot be cast (say
   2026-02-30) it runs again with casts that turn failures into NULL (slower, only for
   a broken file).
3. **Restate** (``write``): the file's (billing account, billing period) pairs replace
   what the app holds for them. Each line has a key (its identifying columns plus its
   ordinal among identical ones) and a content hash; lines whose key is gone are
   deleted, new keys inserted, same key with another hash replaced, the rest untouched.
   The counts and money of each are the import's report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from finance.focus import spec
from finance.focus.reader import Staged

MAX_ERRORS = 1000

#: Advisory lock key of FOCUS writes (one billing account at a time).
_LOCK = 0xF0C5

_NUM = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]{1,2})?$"
_TS = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]+)?)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)

_SAFE_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION pg_temp.focus_num(v text) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN IF v !~ '{_NUM}' THEN RETURN NULL; END IF;
RETURN round(v::numeric, 15); EXCEPTION WHEN others THEN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION pg_temp.focus_ts(v text) RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN IF v !~ '{_TS}' THEN RETURN NULL; END IF;
RETURN v::timestamptz; EXCEPTION WHEN others THEN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION pg_temp.focus_json(v text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN RETURN v::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END $$;
"""


@dataclass
class Outcome:
    version: str = ""
    rows: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.rejected


def _col(staged: Staged, name: str) -> str:
    column = staged.columns.get(name)
    return f"NULLIF(btrim(st.{column}), '')" if column else "NULL::text"


def _literal_list(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _checked_sql(staged: Staged, safe: bool) -> str:
    def num(name):
        v = f"t.{name}_t"
        if safe:
            return f"pg_temp.focus_num({v})"
        # A failed cast fails the statement and sends the whole check to the safe path;
        # the guard keeps words PostgreSQL would read as numbers (NaN, Infinity) out.
        return f"CASE WHEN translate(lower({v}), '0123456789.+-e', '') = '' THEN round({v}::numeric, 15) END"

    def ts(name):
        v = f"t.{name}_t"
        if safe:
            return f"pg_temp.focus_ts({v})"
        # The guard keeps words PostgreSQL would read as times (now, epoch) out.
        return f"CASE WHEN {v} LIKE '____-__-__%%' THEN {v}::timestamptz END"

    def js(name):
        v = f"t.{name}_t"
        if safe:
            return f"pg_temp.focus_json({v})"
        return f"{v}::jsonb"

    c = lambda name: _col(staged, name)  # noqa: E731
    has = staged.columns.__contains__
    provider = (
        f"COALESCE({c('ServiceProviderName')}, {c('ProviderName')}, '')"
        if has("ServiceProviderName") or has("ProviderName")
        else "''"
    )
    required = [
        ("BilledCost", "billed_cost"),
        ("EffectiveCost", "effective_cost"),
        ("BillingCurrency", "currency_t"),
        ("BillingAccountId", "billing_account_id"),
        ("BillingPeriodStart", "billing_period_start"),
        ("BillingPeriodEnd", "billing_period_end"),
        ("ChargePeriodStart", "charge_period_start"),
        ("ChargePeriodEnd", "charge_period_end"),
        ("ChargeCategory", "charge_category"),
        ("ServiceCategory", "service_category"),
        ("ServiceName", "service_name"),
    ]
    checks = []
    for column, alias in required:
        raw = f"{alias}_t" if alias.endswith(("_cost", "_start", "_end")) else alias
        checks.append(f"CASE WHEN t.{raw} IS NULL THEN '{column}|is required' END")
    for column, alias, what in (
        ("BilledCost", "billed_cost", "a decimal number"),
        ("EffectiveCost", "effective_cost", "a decimal number"),
        ("ConsumedQuantity", "consumed_quantity", "a decimal number"),
        ("BillingPeriodStart", "billing_period_start", "an ISO 8601 date-time"),
        ("BillingPeriodEnd", "billing_period_end", "an ISO 8601 date-time"),
        ("ChargePeriodStart", "charge_period_start", "an ISO 8601 date-time"),
        ("ChargePeriodEnd", "charge_period_end", "an ISO 8601 date-time"),
    ):
        checks.append(
            f"CASE WHEN t.{alias}_t IS NOT NULL AND {alias} IS NULL THEN "
            f"'{column}|' || quote_literal(left(t.{alias}_t, 60)) || ' is not {what}' END"
        )
    for column, alias in (
        ("BilledCost", "billed_cost"),
        ("EffectiveCost", "effective_cost"),
        ("ConsumedQuantity", "consumed_quantity"),
    ):
        checks.append(
            f"CASE WHEN abs({alias}) >= 1e22 THEN '{column}|' || "
            f"quote_literal(left(t.{alias}_t, 60)) || ' is too large' END"
        )
    for column, alias in (("Tags", "tags"), ("SkuPriceDetails", "sku_price_details")):
        checks.append(
            f"CASE WHEN t.{alias}_t IS NOT NULL AND ({alias} IS NULL OR "
            f"jsonb_typeof({alias}) <> 'object') THEN '{column}|' || "
            f"quote_literal(left(t.{alias}_t, 60)) || ' is not a JSON object' END"
        )
    for column, alias, allowed in (
        ("ChargeCategory", "charge_category", spec.CHARGE_CATEGORIES),
        ("ChargeClass", "charge_class", spec.CHARGE_CLASSES),
        ("ChargeFrequency", "charge_frequency", spec.CHARGE_FREQUENCIES),
        ("ServiceCategory", "service_category", spec.SERVICE_CATEGORIES),
    ):
        checks.append(
            f"CASE WHEN t.{alias} IS NOT NULL AND t.{alias} NOT IN ({_literal_list(allowed)}) "
            f"THEN '{column}|' || quote_literal(left(t.{alias}, 60)) || "
            f"' is not a FOCUS {column} (allowed: {', '.join(allowed)})' END"
        )
    checks.append(
        "CASE WHEN t.currency_t IS NOT NULL AND (NOT t.currency_t = ANY(%(currencies)s) OR ("
        "t.currency_t <> %(reporting)s AND (fr.first_rate IS NULL OR "
        "fr.first_rate > (charge_period_start AT TIME ZONE 'UTC')::date))) THEN "
        "'BillingCurrency|' || quote_literal(t.currency_t) || ' is a currency the app holds "
        "no exchange rate for' || CASE WHEN fr.first_rate IS NOT NULL THEN ' on ' || "
        "to_char(charge_period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ' (rates start ' || "
        "fr.first_rate || ')' ELSE ' (configured: ' || array_to_string(%(currencies)s::text[], ', ') "
        "|| '; a rate is needed for every currency but ' || %(reporting)s || ')' END END"
    )
    identity = (
        "billing_account_id, billing_period_start, charge_period_start, charge_period_end, "
        "charge_category, charge_class, charge_frequency, charge_description, sub_account_id, "
        "service_name, resource_id, sku_id, sku_price_id, consumed_unit, ai_model, token_type, "
        "tags"
    )
    content = (
        "billed_cost, effective_cost, billing_currency, consumed_quantity, service_category, "
        "provider, billing_account_name, sub_account_name, resource_name, billing_period_end"
    )
    return f"""
    CREATE TEMP TABLE focus_checked ON COMMIT DROP AS
    WITH t AS (
        SELECT st.row_no,
               {c("BilledCost")} AS billed_cost_t, {c("EffectiveCost")} AS effective_cost_t,
               upper({c("BillingCurrency")}) AS currency_t,
               {c("BillingAccountId")} AS billing_account_id,
               COALESCE({c("BillingAccountName")}, '') AS billing_account_name,
               {c("BillingPeriodStart")} AS billing_period_start_t,
               {c("BillingPeriodEnd")} AS billing_period_end_t,
               {c("ChargePeriodStart")} AS charge_period_start_t,
               {c("ChargePeriodEnd")} AS charge_period_end_t,
               {c("ChargeCategory")} AS charge_category, {c("ChargeClass")} AS charge_class,
               {c("ChargeFrequency")} AS charge_frequency,
               COALESCE({c("ChargeDescription")}, '') AS charge_description,
               {c("ServiceCategory")} AS service_category, {c("ServiceName")} AS service_name,
               {provider} AS provider,
               COALESCE({c("SubAccountId")}, '') AS sub_account_id,
               COALESCE({c("SubAccountName")}, '') AS sub_account_name,
               COALESCE({c("ResourceId")}, '') AS resource_id,
               COALESCE({c("ResourceName")}, '') AS resource_name,
               COALESCE({c("SkuId")}, '') AS sku_id, COALESCE({c("SkuPriceId")}, '') AS sku_price_id,
               COALESCE({c("SkuMeter")}, '') AS sku_meter,
               {c("SkuPriceDetails")} AS sku_price_details_t,
               {c("ConsumedQuantity")} AS consumed_quantity_t,
               COALESCE({c("ConsumedUnit")}, '') AS consumed_unit,
               {c("Tags")} AS tags_t
        FROM focus_staging st
        OFFSET 0
    ), typed AS (
        SELECT t.*,
               {num("billed_cost")} AS billed_cost, {num("effective_cost")} AS effective_cost,
               {num("consumed_quantity")} AS consumed_quantity,
               {ts("billing_period_start")} AS billing_period_start,
               {ts("billing_period_end")} AS billing_period_end,
               {ts("charge_period_start")} AS charge_period_start,
               {ts("charge_period_end")} AS charge_period_end,
               {js("tags")} AS tags, {js("sku_price_details")} AS sku_price_details
        FROM t
        OFFSET 0
    ), ai AS (
        SELECT y.*,
               CASE WHEN y.service_category = '{spec.AI_SERVICE_CATEGORY}'
                         OR y.consumed_unit ILIKE '%%token%%' THEN left(COALESCE(
                   y.sku_price_details->>'x_ModelName', y.sku_price_details->>'ModelName',
                   y.sku_price_details->>'x_Model', y.sku_price_details->>'Model',
                   y.sku_price_details->>'x_ModelId', ''), 200) ELSE '' END AS ai_model,
               CASE WHEN y.consumed_unit ILIKE '%%token%%' THEN left(lower(COALESCE(
                   y.sku_price_details->>'x_TokenType', y.sku_price_details->>'TokenType',
                   y.sku_price_details->>'x_TokenDirection',
                   CASE WHEN y.sku_meter ILIKE '%%cache%%' THEN 'cached input'
                        WHEN y.sku_meter ILIKE '%%input%%' OR y.sku_meter ILIKE '%%prompt%%' THEN 'input'
                        WHEN y.sku_meter ILIKE '%%output%%' OR y.sku_meter ILIKE '%%completion%%' THEN 'output'
                        ELSE 'tokens' END)), 60) ELSE '' END AS token_type,
               CASE WHEN y.consumed_unit ILIKE '%%token%%' THEN y.consumed_quantity *
                   CASE WHEN y.consumed_unit ~* '^ *(1 *)?m *tokens|million' THEN 1000000
                        WHEN y.consumed_unit ~* '^ *(1 *)?k *tokens|thousand' THEN 1000
                        ELSE 1 END END AS token_count
        FROM typed y
    ), checked AS (
        SELECT t.row_no, t.billing_account_id, t.billing_account_name, t.billing_period_start,
               t.billing_period_end, t.charge_period_start, t.charge_period_end,
               t.charge_category, COALESCE(t.charge_class, '') AS charge_class,
               COALESCE(t.charge_frequency, '') AS charge_frequency, t.charge_description,
               t.billed_cost, t.effective_cost, t.currency_t AS billing_currency,
               t.service_category, t.service_name, left(t.provider, 200) AS provider,
               t.sub_account_id, t.sub_account_name, t.resource_id, t.resource_name, t.sku_id,
               t.sku_price_id, COALESCE(t.tags, '{{}}'::jsonb) AS tags, t.consumed_quantity,
               t.consumed_unit, t.ai_model, t.token_type, t.token_count,
               ARRAY_REMOVE(ARRAY[{", ".join(checks)}]::text[], NULL::text) AS errors
        FROM ai t
        LEFT JOIN (SELECT currency, MIN(valid_from) AS first_rate FROM finance_exchangerate
                   GROUP BY currency) fr ON fr.currency = t.currency_t
    ), keyed AS (
        SELECT k.*, cardinality(k.errors) = 0 AS ok,
               md5(concat_ws('|', {identity}))::uuid AS identity_hash,
               md5(concat_ws('|', {content})) AS content_hash
        FROM checked k
    )
    SELECT q.*, md5(q.identity_hash::text || '#' || row_number() OVER (
               PARTITION BY q.identity_hash ORDER BY q.row_no)) AS line_key
    FROM keyed q
    """


def check(cursor, staged: Staged) -> Outcome:
    """Type and check every staged row (see the module docstring)."""
    outcome = Outcome(version=staged.version)
    params = {
        "currencies": list(settings.CURRENCIES),
        "reporting": settings.REPORTING_CURRENCY,
    }
    cursor.execute("DROP TABLE IF EXISTS focus_checked")
    cursor.execute("SAVEPOINT focus_fast_check")
    try:
        cursor.execute(_checked_sql(staged, safe=False), params)
    except DatabaseError:
        # A value the shape checks let through still failed to cast: check again with
        # casts that return NULL instead (a subtransaction per value: broken files only).
        cursor.execute("ROLLBACK TO SAVEPOINT focus_fast_check")
        for statement in _SAFE_FUNCTIONS.split("$$;\n"):
            if statement.strip():
                cursor.execute(statement + "$$")
        cursor.execute(_checked_sql(staged, safe=True), params)
    cursor.execute("RELEASE SAVEPOINT focus_fast_check")
    cursor.execute("SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT ok) FROM focus_checked")
    outcome.rows, outcome.rejected = cursor.fetchone()
    if outcome.rejected:
        cursor.execute(
            """SELECT row_no, e FROM focus_checked, unnest(errors) AS e
               WHERE NOT ok ORDER BY row_no LIMIT %s""",
            [MAX_ERRORS],
        )
        for row_no, text in cursor.fetchall():
            column, reason = text.split("|", 1)
            outcome.errors.append({"row": row_no, "column": column, "reason": reason})
    return outcome


_LINE_COLUMNS = (
    "line_key, content_hash, row_no, provider, billing_account_id, billing_account_name, "
    "billing_period_start, billing_period_end, charge_period_start, charge_period_end, "
    "charge_category, charge_class, charge_frequency, charge_description, billed_cost, "
    "effective_cost, billing_currency, service_category, service_name, sub_account_id, "
    "sub_account_name, resource_id, resource_name, sku_id, sku_price_id, tags, "
    "consumed_quantity, consumed_unit, ai_model, token_type, token_count"
)


def _money(rows) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for currency, what, amount in rows:
        out.setdefault(currency, {"added": "0", "removed": "0", "changed": "0"})
        out[currency][what] = str(Decimal(amount or 0).normalize() + Decimal(0))
    return out


def write(cursor, *, import_id: int, cost_basis: str) -> dict[str, Any]:
    """Replace the file's billing periods (see the module docstring); returns the report."""
    cost = "effective_cost" if cost_basis == "effective" else "billed_cost"
    cursor.execute(
        "SELECT DISTINCT billing_account_id, billing_period_start FROM focus_checked ORDER BY 1, 2"
    )
    periods = cursor.fetchall()
    for account in sorted({p[0] for p in periods}):
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK, account])
    cursor.execute("DROP TABLE IF EXISTS focus_old")
    cursor.execute(
        """CREATE TEMP TABLE focus_old ON COMMIT DROP AS
           SELECT l.id, l.line_key, l.content_hash, l.billing_currency, l.billed_cost,
                  l.effective_cost
           FROM finance_focusline l
           JOIN (SELECT DISTINCT billing_account_id, billing_period_start FROM focus_checked) p
             ON p.billing_account_id = l.billing_account_id
            AND p.billing_period_start = l.billing_period_start"""
    )
    cursor.execute("ANALYZE focus_old")
    cursor.execute("DROP TABLE IF EXISTS focus_diff")
    cursor.execute(
        f"""CREATE TEMP TABLE focus_diff ON COMMIT DROP AS
            SELECT n.line_key AS new_key, o.id AS old_id,
                   CASE WHEN o.id IS NULL THEN 'added' WHEN n.line_key IS NULL THEN 'removed'
                        WHEN n.content_hash <> o.content_hash THEN 'changed'
                        ELSE 'unchanged' END AS what,
                   COALESCE(n.billing_currency, o.billing_currency) AS currency,
                   COALESCE(n.{cost}, 0) - COALESCE(o.{cost}, 0) AS delta,
                   COALESCE(n.{cost}, 0) AS new_cost, COALESCE(o.{cost}, 0) AS old_cost,
                   n.billing_currency IS DISTINCT FROM o.billing_currency AS currency_moved
            FROM focus_checked n FULL JOIN focus_old o ON o.line_key = n.line_key"""
    )
    cursor.execute("SELECT what, COUNT(*) FROM focus_diff GROUP BY what")
    counts = {"added": 0, "removed": 0, "changed": 0, "unchanged": 0} | dict(cursor.fetchall())
    cursor.execute(
        """SELECT currency, what, SUM(CASE what WHEN 'added' THEN new_cost
                                              WHEN 'removed' THEN -old_cost ELSE delta END)
           FROM focus_diff WHERE what <> 'unchanged' GROUP BY 1, 2 ORDER BY 1, 2"""
    )
    money = _money(cursor.fetchall())
    cursor.execute(
        """DELETE FROM finance_focusline l USING focus_diff d
           WHERE d.old_id = l.id AND d.what IN ('removed', 'changed')"""
    )
    cursor.execute(
        f"""INSERT INTO finance_focusline ({_LINE_COLUMNS}, focus_import_id)
            SELECT {_LINE_COLUMNS}, %s FROM focus_checked c
            WHERE EXISTS (SELECT 1 FROM focus_diff d WHERE d.new_key = c.line_key
                          AND d.what IN ('added', 'changed'))""",
        [import_id],
    )
    cursor.execute("SELECT SUM(" + cost + "), billing_currency FROM focus_checked GROUP BY 2")
    totals = {cur: str(amount) for amount, cur in cursor.fetchall()}
    return {
        "periods": [
            {"billing_account": a, "billing_period_start": p.date().isoformat()} for a, p in periods
        ],
        "rows": counts,
        "money": money,
        "cost_basis": cost_basis,
        "file_totals": totals,
    }


def run(
    cursor,
    *,
    loader: Callable[[Any], Staged],
    import_id: int,
    cost_basis: str,
    phase: Callable[[str], None] | None = None,
) -> Outcome:
    started = time.perf_counter()
    staged = loader(cursor)
    outcome_timings = {"load": time.perf_counter() - started}
    if phase:
        phase("validate")
    cursor.execute("SET LOCAL work_mem = '128MB'")
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("ANALYZE focus_staging")
    checked = time.perf_counter()
    outcome = check(cursor, staged)
    outcome.timings = outcome_timings | {"validate": time.perf_counter() - checked}
    if not outcome.ok:
        return outcome
    if phase:
        phase("write")
    written = time.perf_counter()
    cursor.execute("ANALYZE focus_checked")
    outcome.report = write(cursor, import_id=import_id, cost_basis=cost_basis)
    outcome.timings["write"] = time.perf_counter() - written
    return outcome
