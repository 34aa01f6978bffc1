"""The maintained spend rollups equal the ledger after every kind of write.

The rollups are kept by database triggers (finance/rollups.py), so each test writes the
ledger through one real path (service, API, form, import, admin-style ORM calls, raw
bulk SQL, exchange-rate changes, a move of an initiative to another unit) and then
compares both rollups with the same sums computed from the raw rows."""

from __future__ import annotations

import datetime as dt
import io
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from finance import rollups, selectors
from finance.models import ExchangeRate, SpendEntry, SpendInitiativeMonth, SpendUnitMonth
from finance.services import spend_entries_upsert, spend_entry_create, spend_import

pytestmark = pytest.mark.django_db

UNIT_FROM_LEDGER = """
SELECT s.business_unit_id, date_trunc('month', s.posted_on)::date, s.kind, s.category,
       s.currency, SUM(s.amount), COALESCE(SUM(s.amount * finance_rate_on(s.currency,
       s.posted_on)), 0), COUNT(*) FILTER (WHERE finance_rate_on(s.currency, s.posted_on)
       IS NULL), COUNT(*)
FROM finance_spendentry s GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"""
UNIT_FROM_ROLLUP = """
SELECT business_unit_id, month, kind, category, currency, amount, converted,
       missing_entries, entries
FROM finance_spendunitmonth ORDER BY 1, 2, 3, 4, 5"""
INITIATIVE_FROM_LEDGER = """
SELECT s.initiative_id, s.business_unit_id, date_trunc('month', s.posted_on)::date,
       COALESCE(SUM(s.amount * finance_rate_on(s.currency, s.posted_on))
                FILTER (WHERE s.kind = 'one_time'), 0),
       COALESCE(SUM(s.amount * finance_rate_on(s.currency, s.posted_on))
                FILTER (WHERE s.kind = 'operational'), 0),
       COUNT(*) FILTER (WHERE finance_rate_on(s.currency, s.posted_on) IS NULL), COUNT(*)
FROM finance_spendentry s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
INITIATIVE_FROM_ROLLUP = """
SELECT initiative_id, business_unit_id, month, one_time, operational, missing_entries,
       entries
FROM finance_spendinitiativemonth ORDER BY 1, 2, 3"""


def _rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [tuple(Decimal(v) if isinstance(v, Decimal) else v for v in r) for r in cursor]


YEAR_FROM_LEDGER = """
SELECT s.initiative_id, s.business_unit_id, EXTRACT(YEAR FROM s.posted_on)::int,
       COALESCE(SUM(s.amount * finance_rate_on(s.currency, s.posted_on)), 0), COUNT(*)
FROM finance_spendentry s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
YEAR_FROM_ROLLUP = """
SELECT initiative_id, business_unit_id, year, amount, entries
FROM finance_spendinitiativeyear ORDER BY 1, 2, 3"""


# By each initiative's current unit, stage and closed status (not the posting's unit).
STAGE_FROM_LEDGER = """
SELECT i.business_unit_id, i.stage, i.status = 'closed', date_trunc('month', s.posted_on)::date,
       COALESCE(SUM(s.amount * finance_rate_on(s.currency, s.posted_on))
                FILTER (WHERE s.kind = 'one_time'), 0),
       COALESCE(SUM(s.amount * finance_rate_on(s.currency, s.posted_on))
                FILTER (WHERE s.kind = 'operational'), 0), COUNT(*)
FROM finance_spendentry s JOIN portfolio_initiative i ON i.id = s.initiative_id
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""
STAGE_FROM_ROLLUP = """
SELECT business_unit_id, stage, closed, month, one_time, operational, entries
FROM finance_spendstagemonth ORDER BY 1, 2, 3, 4"""


def assert_rollups_match_ledger() -> None:
    assert _rows(UNIT_FROM_ROLLUP) == _rows(UNIT_FROM_LEDGER)
    assert _rows(INITIATIVE_FROM_ROLLUP) == _rows(INITIATIVE_FROM_LEDGER)
    assert _rows(YEAR_FROM_ROLLUP) == _rows(YEAR_FROM_LEDGER)
    assert _rows(STAGE_FROM_ROLLUP) == _rows(STAGE_FROM_LEDGER)


@pytest.fixture
def rates(db):
    ExchangeRate.objects.create(currency="EUR", valid_from=dt.date(2026, 1, 1), rate="1.1")
    ExchangeRate.objects.create(currency="EUR", valid_from=dt.date(2026, 3, 15), rate="1.2")


def _entry(initiative, **kw) -> SpendEntry:
    values = {
        "initiative": initiative,
        "business_unit_id": initiative.business_unit_id,
        "posted_on": dt.date(2026, 3, 10),
        "kind": "operational",
        "category": "compute",
        "amount": Decimal("100.00"),
        "currency": "USD",
    } | kw
    return SpendEntry.objects.create(**values)


def test_service_create_keeps_rollups_exact(finance, initiative_a, rates):
    spend_entry_create(
        acting_user=finance,
        initiative=initiative_a,
        posted_on=dt.date(2026, 3, 20),
        kind="one_time",
        category="data",
        amount=Decimal("12.34"),
        currency="EUR",
    )
    assert_rollups_match_ledger()
    row = SpendUnitMonth.objects.get()
    assert row.converted == Decimal("12.34") * Decimal("1.2")
    assert row.entries == 1


def test_updates_and_deletes_keep_rollups_exact(initiative_a, initiative_b, rates):
    a = _entry(initiative_a)
    b = _entry(initiative_a, currency="EUR", posted_on=dt.date(2026, 3, 16))
    _entry(initiative_b, kind="one_time")
    assert_rollups_match_ledger()
    a.amount = Decimal("-40.00")
    a.posted_on = dt.date(2026, 4, 1)
    a.save()
    assert_rollups_match_ledger()
    SpendEntry.objects.filter(pk=b.pk).update(category="vendor", currency="GBP")  # no rate
    assert_rollups_match_ledger()
    assert SpendUnitMonth.objects.filter(currency="GBP", missing_entries=1).exists()
    SpendEntry.objects.filter(pk=b.pk).delete()
    a.delete()
    assert_rollups_match_ledger()
    # Emptied months are dropped, not left as zeros.
    assert not SpendInitiativeMonth.objects.filter(initiative=initiative_a).exists()


def test_bulk_statements_keep_rollups_exact(initiative_a, initiative_b, rates):
    SpendEntry.objects.bulk_create(
        [
            SpendEntry(
                initiative=i,
                business_unit_id=i.business_unit_id,
                posted_on=dt.date(2026, 1 + n % 6, 1 + n % 27),
                kind=("one_time", "operational")[n % 2],
                category="compute",
                amount=Decimal(n + 1),
                currency=("USD", "EUR", "GBP")[n % 3],
                reference=f"R{n}",
                source="bulk",
            )
            for n in range(60)
            for i in (initiative_a, initiative_b)
            if (i == initiative_a) == (n % 2 == 0)
        ]
    )
    assert_rollups_match_ledger()
    SpendEntry.objects.filter(source="bulk", amount__gt=30).update(amount=Decimal("7.77"))
    assert_rollups_match_ledger()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM finance_spendentry WHERE amount < 10")
    assert_rollups_match_ledger()


def test_exchange_rate_changes_keep_rollups_exact(initiative_a, rates):
    _entry(initiative_a, currency="EUR", posted_on=dt.date(2026, 2, 1))
    _entry(initiative_a, currency="EUR", posted_on=dt.date(2026, 4, 1))
    _entry(initiative_a, currency="EUR", posted_on=dt.date(2025, 12, 31))  # no rate yet
    assert_rollups_match_ledger()
    ExchangeRate.objects.create(currency="EUR", valid_from=dt.date(2025, 12, 1), rate="1.05")
    assert_rollups_match_ledger()
    ExchangeRate.objects.filter(valid_from=dt.date(2026, 3, 15)).update(rate="1.3")
    assert_rollups_match_ledger()
    ExchangeRate.objects.filter(valid_from=dt.date(2026, 1, 1)).delete()
    assert_rollups_match_ledger()


def test_moving_an_initiative_keeps_rollups_exact(initiative_a, unit_b):
    _entry(initiative_a)
    _entry(initiative_a, posted_on=dt.date(2026, 5, 5))
    initiative_a.business_unit = unit_b
    initiative_a.save()
    SpendEntry.objects.filter(initiative=initiative_a).update(business_unit=unit_b)
    assert_rollups_match_ledger()
    assert set(SpendUnitMonth.objects.values_list("business_unit_id", flat=True)) == {unit_b.pk}


def test_spend_import_and_api_keep_rollups_exact(finance, initiative_a, initiative_b, rates):
    csv = (
        "date,initiative,kind,category,amount,currency,vendor,reference\n"
        f"2026-03-01,{initiative_a.code},operational,compute,10.50,EUR,,X1\n"
        f"2026-03-20,{initiative_a.code},one_time,data,5.25,EUR,,X2\n"
        f"2026-04-02,{initiative_b.code},operational,tooling,99.99,USD,,X3\n"
    )
    spend_import(acting_user=finance, file=io.BytesIO(csv.encode()), filename="a.csv", source="erp")
    assert_rollups_match_ledger()
    changed = csv.replace("10.50", "11.50").replace("99.99,USD", "99.99,GBP")
    spend_import(
        acting_user=finance, file=io.BytesIO(changed.encode()), filename="a.csv", source="erp"
    )
    assert_rollups_match_ledger()
    spend_entries_upsert(
        acting_user=finance,
        source="api",
        rows=[
            {
                "initiative": initiative_b.code,
                "posted_on": "2026-06-01",
                "kind": "one_time",
                "category": "vendor",
                "amount": "3.00",
                "currency": "USD",
                "reference": "API-1",
            }
        ],
    )
    assert_rollups_match_ledger()
    client = APIClient()
    client.force_authenticate(finance)
    response = client.post(
        "/api/v1/spend-entries/bulk/",
        {
            "source": "api",
            "rows": [
                {
                    "initiative": initiative_a.code,
                    "posted_on": "2026-06-02",
                    "kind": "operational",
                    "category": "compute",
                    "amount": "8.00",
                    "currency": "EUR",
                    "reference": "API-2",
                }
            ],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert_rollups_match_ledger()


def test_web_form_keeps_rollups_exact(client, finance, initiative_a):
    client.force_login(finance)
    response = client.post(
        reverse("finance:spend_create"),
        {
            "initiative": initiative_a.pk,
            "posted_on": "2026-02-02",
            "kind": "operational",
            "category": "compute",
            "amount": "42.00",
            "currency": "USD",
        },
    )
    assert response.status_code == 302, response.content
    assert SpendEntry.objects.count() == 1
    assert_rollups_match_ledger()


def test_rebuild_restores_a_damaged_rollup(initiative_a, rates):
    _entry(initiative_a)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE finance_spendunitmonth SET converted = 0")
    rollups.rebuild()
    assert_rollups_match_ledger()


def test_dashboard_figures_from_rollups_equal_the_ledger(
    finance, initiative_a, initiative_b, rates
):
    """budget_vs_actual reads the rollups (unit and initiative grain) and the ledger (one
    initiative by kind and category); all three agree to the cent, postings dated after
    as_of in its month are left out, and a currency without a rate is named."""
    for n in range(30):
        i = (initiative_a, initiative_b)[n % 2]
        _entry(
            i,
            posted_on=dt.date(2026, 1 + n % 6, 1 + n % 28),
            kind=("one_time", "operational")[n % 2],
            category=("compute", "data")[n % 2],
            amount=Decimal(n) + Decimal("0.37"),
            currency=("USD", "EUR", "GBP")[n % 3],
        )
    as_of = dt.date(2026, 6, 10)
    by_unit = selectors.budget_totals(user=finance, as_of=as_of)
    by_initiative = selectors.budget_vs_actual(user=finance, as_of=as_of, group_by=("initiative",))
    by_line = selectors.budget_vs_actual(
        user=finance, as_of=as_of, group_by=("initiative", "kind", "category")
    )

    def expected(qs) -> Decimal:
        total = sum(
            (
                e.amount
                * (Decimal("1.2") if e.posted_on >= dt.date(2026, 3, 15) else Decimal("1.1"))
                if e.currency == "EUR"
                else e.amount
            )
            for e in qs.filter(posted_on__lte=as_of).exclude(currency="GBP")
        )
        return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # as PostgreSQL

    ledger = SpendEntry.objects.all()
    assert SpendEntry.objects.filter(posted_on__gt=as_of, posted_on__month=6).exists()
    assert by_unit.actual == expected(ledger)
    assert {r.initiative_id: r.actual for r in by_initiative} == {
        i.pk: expected(ledger.filter(initiative=i)) for i in (initiative_a, initiative_b)
    }
    for i in (initiative_a, initiative_b):
        lines = [r for r in by_line if r.initiative_id == i.pk]
        assert abs(sum(r.actual for r in lines) - expected(ledger.filter(initiative=i))) <= Decimal(
            "0.01"
        ) * len(lines)
    assert by_unit.missing_rates == ["GBP"]
    assert {c for r in by_initiative for c in r.missing_rates} == {"GBP"}


def test_initiative_autocomplete_is_scoped_and_filters_the_ledger_by_code(
    client, lead_a, lead_b, initiative_a, initiative_b
):
    """The spend ledger's initiative filter is a text box with suggestions, not a
    drop-down of every initiative: the suggestions are the user's own."""
    client.force_login(lead_b)
    response = client.get("/initiatives/autocomplete/", {"initiative": initiative_a.code[:3]})
    assert response.status_code == 200
    assert initiative_a.code not in response.content.decode()
    client.force_login(lead_a)
    response = client.get("/initiatives/autocomplete/", {"q": initiative_a.code})
    assert f'<option value="{initiative_a.code}">' in response.content.decode()
    _entry(initiative_a, reference="MINE")
    page = client.get(reverse("finance:spend_list"), {"initiative": initiative_a.code})
    assert page.status_code == 200
    assert page.context["page_obj"].paginator.count == 1
    assert "<select" not in page.content.decode().split('name="initiative"')[0][-200:]


ROLLUP_TABLES = {
    "finance_spendunitmonth",
    "finance_spendinitiativemonth",
    "finance_spendinitiativeyear",
    "finance_valueunitstep",
    "finance_budgetunityear",
    "finance_spendstagemonth",
}


@pytest.mark.django_db
def test_rollup_tables_keep_room_for_their_rewrites_and_are_vacuumed_early():
    """Every ledger write rewrites a rollup row: pages keep room for HOT updates and
    autovacuum runs after 2% of the rows changed (finance 0013, 0018)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)",
            [list(ROLLUP_TABLES)],
        )
        options = dict(cursor.fetchall())
    assert set(options) == ROLLUP_TABLES
    for table, opts in options.items():
        assert "fillfactor=70" in opts and "autovacuum_vacuum_scale_factor=0.02" in opts, table


def test_rollup_trigger_looks_each_rate_up_once_per_currency_and_day(initiative_a, rates):
    """The trigger's statement rates its rows per (currency, day), not per row: the rate
    function is evaluated in the ``days`` CTE alone. (Inlined, the planner pulled the
    function up into the join with the rows and called it once per row: 1 s of a
    100,000-row import.)"""
    for n in range(20):
        _entry(initiative_a, posted_on=dt.date(2026, 3, 1 + n), currency=("USD", "EUR")[n % 2])
    statement = rollups._apply(f"SELECT 1 AS sign, {rollups.LEDGER_COLUMNS} FROM new_rows")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE new_rows AS SELECT * FROM finance_spendentry")
        cursor.execute("EXPLAIN (VERBOSE, COSTS OFF) " + statement.split(";")[0])
        plan = [line for (line,) in cursor.fetchall()]
        cursor.execute("DROP TABLE new_rows")
    calls = [i for i, line in enumerate(plan) if "finance_rate_on(" in line]
    ctes = [i for i, line in enumerate(plan) if line.strip().startswith("CTE ")]
    days = next((i for i in ctes if plan[i].strip() == "CTE days"), None)
    assert days is not None, "the rate look-up is inlined into the join:\n" + "\n".join(plan)
    end = min([i for i in ctes if i > days], default=len(plan))
    assert calls and all(days < i < end for i in calls), "\n".join(plan)
    with connection.cursor() as cursor:  # and the installed triggers run this statement
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'finance_spend_rollup_insert'")
        assert "days AS MATERIALIZED" in cursor.fetchone()[0]


# --- Spend by stage (finance_spendstagemonth: the initiative's current key) ---------------


def test_stage_decisions_move_an_initiatives_spend_to_its_new_stage(pmo, initiative_a, rates):
    """A kill (through the service: stage and closed status change together) moves every
    month of the initiative's spend to the killed, closed key."""
    from finance.models import SpendStageMonth
    from portfolio.services import stage_decide

    _entry(initiative_a)
    _entry(initiative_a, posted_on=dt.date(2025, 11, 3), kind="operational", currency="EUR")
    assert set(SpendStageMonth.objects.values_list("stage", "closed")) == {
        ("proof_of_concept", False)
    }
    stage_decide(acting_user=pmo, initiative=initiative_a, decision="kill", rationale="No value.")
    assert_rollups_match_ledger()
    assert set(SpendStageMonth.objects.values_list("stage", "closed")) == {("killed", True)}


def test_stage_status_and_unit_edits_keep_spend_by_stage_exact(
    initiative_a, initiative_b, unit_b, rates
):
    from portfolio.models import Initiative

    _entry(initiative_a)
    _entry(initiative_b, posted_on=dt.date(2026, 4, 2), kind="operational")
    initiative_a.stage = "initial_production"
    initiative_a.save()  # the form's and the admin's path
    assert_rollups_match_ledger()
    Initiative.objects.filter(pk__in=[initiative_a.pk, initiative_b.pk]).update(
        stage="scaled_deployment"
    )
    assert_rollups_match_ledger()
    Initiative.objects.filter(pk=initiative_b.pk).update(status="closed")
    assert_rollups_match_ledger()
    initiative_a.refresh_from_db()
    initiative_a.business_unit = unit_b  # the initiative's unit is the key, not the posting's
    initiative_a.save()
    assert_rollups_match_ledger()
    Initiative.objects.filter(pk=initiative_a.pk).update(name="Renamed")  # no key change
    assert_rollups_match_ledger()
    with connection.cursor() as cursor:  # raw SQL obeys too
        cursor.execute(
            "UPDATE portfolio_initiative SET stage = 'institutional' WHERE id = %s",
            [initiative_b.pk],
        )
    assert_rollups_match_ledger()


def test_deleting_an_initiative_takes_its_spend_out_of_the_stage_rollup(
    initiative_a, initiative_b, rates
):
    from finance.models import SpendStageMonth

    _entry(initiative_a)
    _entry(initiative_b, kind="operational")
    # The app's order: the postings (protected), then the initiative.
    SpendEntry.objects.filter(initiative=initiative_a).delete()
    initiative_a.delete()
    assert_rollups_match_ledger()
    # The other order (raw SQL; the foreign keys are checked at commit): the initiative
    # first takes its months out, its postings' deletion then finds no initiative.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM portfolio_initiative WHERE id = %s", [initiative_b.pk])
        cursor.execute("DELETE FROM finance_spendentry WHERE initiative_id = %s", [initiative_b.pk])
    assert_rollups_match_ledger()
    assert not SpendStageMonth.objects.exists()


def test_stage_rollup_rebuild_restores_a_damaged_table(initiative_a, rates):
    from finance import stage_rollup
    from finance.models import SpendStageMonth

    _entry(initiative_a)
    SpendStageMonth.objects.update(operational=12345)
    stage_rollup.rebuild()
    assert_rollups_match_ledger()


@pytest.mark.django_db(transaction=True)
def test_a_stage_change_racing_a_posting_leaves_the_posting_under_the_new_stage(unit_a, rates):
    """A posting's transaction and a stage change of the same initiative, each committing
    while the other is open: the posting's months end under the new stage whichever
    commits first (the rollup trigger locks the initiative for share before it reads
    its key)."""
    import threading

    from django.db import close_old_connections, transaction

    from tests.factories import InitiativeFactory

    initiative = InitiativeFactory(business_unit=unit_a)
    _entry(initiative)
    posted = threading.Event()
    errors: list[BaseException] = []

    def post():
        try:
            with transaction.atomic():
                _entry(initiative, posted_on=dt.date(2026, 6, 1))
                posted.set()
                # Hold the transaction open while the other tries to change the stage.
                threading.Event().wait(0.5)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            posted.set()
        finally:
            close_old_connections()

    thread = threading.Thread(target=post)
    thread.start()
    posted.wait(5)
    from portfolio.models import Initiative

    # Blocks until the posting commits (its trigger holds the initiative for share), then
    # moves every month, the new one included.
    Initiative.objects.filter(pk=initiative.pk).update(stage="initial_production")
    thread.join(10)
    assert not errors
    assert_rollups_match_ledger()
    from finance.models import SpendStageMonth

    assert set(SpendStageMonth.objects.values_list("stage", flat=True)) == {"initial_production"}
    SpendEntry.objects.all().delete()
    initiative.delete()
