"""An enterprise-scale organisation, generated set-based into a scratch database.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch_org python -m bench org
    python -m bench org --database scratch_org_small --scale 0.1

Defaults (``--scale 1``): 50 units (10 divisions of 4 departments), 2,000 users,
5,000 initiatives, 20,000 budget lines, 1,000,000 spend postings over three years,
20,000 KPIs with 500,000 measurements, 20,000 model versions. ``--scale`` multiplies
every count except the unit tree, so a unit lead sees the same share (a tenth: one
division) of a smaller organisation.

- ``--database NAME`` creates ``NAME`` on the server of ``DATABASE_URL`` (refusing
  ``postgres`` and any database that already holds initiatives unless ``--reset``),
  migrates it, then generates. The generator never writes to ``postgres``.
- Units, users and groups are created through the ORM; every unit membership is granted
  through the real service (``people.services.membership_grant``), so the guardian rows
  and the audit trail are what the app itself would write.
- The large tables are filled with ``INSERT ... SELECT FROM generate_series`` (one
  statement per table, seeded with ``setseed``), so the audit triggers, foreign keys and
  indexes all do their real work. A million postings take a few minutes on two cores.

Signed-in roles for the page benchmark: ``bench-pmo`` (PMO), ``bench-finance``
(Finance), ``bench-lead`` (lead of division ``D01`` and its departments); password
``bench``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from urllib.parse import urlparse, urlunparse

PASSWORD = "bench"
DIVISIONS = 10
DEFAULTS = {
    "users": 2_000,
    "initiatives": 5_000,
    "budgets": 20_000,
    "spend": 1_000_000,
    "kpis": 20_000,
    "measurements": 500_000,
    "model_versions": 20_000,
}
KINDS = ("one_time", "operational")
CATEGORIES = ("compute", "personnel", "tooling", "security", "data", "vendor", "retraining")
STAGES = (
    ("proof_of_concept", 40),
    ("initial_production", 25),
    ("scaled_deployment", 15),
    ("institutional", 8),
    ("retired", 6),
    ("killed", 6),
)


def database_url(name: str) -> str:
    base = urlparse(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    return urlunparse(base._replace(path=f"/{name}"))


def _sql_array(values) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portfolio.settings")
    import django

    django.setup()


def _defaults_sql(model, given: dict[str, str]) -> tuple[list[str], list[str], list]:
    """Columns, SQL expressions and parameters for an ``INSERT ... SELECT`` into ``model``:
    ``given`` (field name -> SQL) plus every other concrete, non-null field's Python
    default as a parameter, so fields other engineers add with a default keep working."""
    from django.db import connection
    from django.db.models import NOT_PROVIDED

    columns, exprs, params = [], [], []
    for f in model._meta.concrete_fields:
        if f.name in given:
            columns.append(f.column)
            exprs.append(given[f.name].replace("%", "%%"))
        elif f.primary_key or f.db_default is not NOT_PROVIDED:
            continue
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            columns.append(f.column)
            exprs.append("now()")
        elif f.null and not f.has_default():
            continue
        else:
            value = f.get_default()  # "" for text fields without a default
            if value is None:
                raise SystemExit(f"{model.__name__}.{f.name}: no value and no default")
            columns.append(f.column)
            exprs.append("%s")
            params.append(f.get_db_prep_save(value, connection))
    return columns, exprs, params


def _insert(model, given: dict[str, str], source: str) -> int:
    from django.db import connection

    columns, exprs, params = _defaults_sql(model, given)
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(exprs)} {source.replace('%', '%%')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


class Step:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self):
        self.start = time.perf_counter()
        print(f"  {self.name} ...", end="", flush=True)
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            print(f" {time.perf_counter() - self.start:.1f}s", flush=True)


def create_database(name: str, *, reset: bool, template: str | None = None) -> None:
    import psycopg

    if name in ("postgres", "template0", "template1"):
        raise SystemExit(f"Refusing to generate into {name!r}: give a scratch database.")
    admin = database_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reset:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')


def counts_for(scale: float) -> dict[str, int]:
    return {k: max(1, round(v * scale)) for k, v in DEFAULTS.items()}


def generate(*, scale: float, seed: float = 0.42, today: dt.date | None = None) -> dict:
    """Fill the (migrated, empty) database of the current settings. Returns the counts."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from finance.models import Budget, ExchangeRate, SpendEntry
    from governance.models import AISystem, ModelVersion
    from people.models import BusinessUnit, UnitMembership
    from people.roles import FINANCE, PMO, ensure_global_roles
    from people.services import membership_grant
    from portfolio.models import KPI, Assignment, Initiative, Measurement

    n = counts_for(scale)
    today = today or dt.date.today()
    start = dt.date(today.year - 2, 1, 1)  # three calendar years, up to today
    days = (today - start).days
    User = get_user_model()
    if Initiative.objects.exists():
        raise SystemExit("The database already holds initiatives: use --reset.")
    ensure_global_roles()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])

    with Step("units, users, groups"), transaction.atomic():
        divisions = BusinessUnit.objects.bulk_create(
            BusinessUnit(code=f"D{d:02d}", slug=f"d{d:02d}", name=f"Division {d:02d}")
            for d in range(1, DIVISIONS + 1)
        )
        departments = BusinessUnit.objects.bulk_create(
            BusinessUnit(
                code=f"D{d.code[1:]}-{k}",
                slug=f"{d.slug}-{k}",
                name=f"{d.name} / Department {k}",
                parent=d,
            )
            for d in divisions
            for k in range(1, 5)
        )
        units = [*divisions, *departments]
        password = make_password(PASSWORD)
        named = ["bench-admin", "bench-pmo", "bench-finance", "bench-lead"]
        User.objects.bulk_create(
            User(
                username=name,
                password=password,
                email=f"{name}@bench.example",
                is_superuser=name == "bench-admin",
                is_staff=name == "bench-admin",
            )
            for name in named
        )
        User.objects.bulk_create(
            User(
                username=f"user{i:05d}",
                password=password,
                email=f"user{i:05d}@bench.example",
                first_name=f"User {i}",
            )
            for i in range(1, n["users"] - len(named) + 1)
        )
        admin = User.objects.get(username="bench-admin")
        User.objects.get(username="bench-pmo").groups.add(Group.objects.get(name=PMO))
        User.objects.get(username="bench-finance").groups.add(Group.objects.get(name=FINANCE))

    with Step(f"{n['users']:,} memberships through membership_grant"):
        lead = User.objects.get(username="bench-lead")
        membership_grant(acting_user=admin, user=lead, business_unit=units[0], role="lead")
        plain = list(User.objects.filter(username__startswith="user").order_by("id"))
        roles = ("member", "member", "viewer", "lead")
        for i, user in enumerate(plain):
            membership_grant(
                acting_user=admin,
                user=user,
                business_unit=units[i % len(units)],
                role=roles[(i // len(units)) % len(roles)],
            )
    user_ids = list(User.objects.filter(username__startswith="user").values_list("id", flat=True))
    lo, hi = min(user_ids), max(user_ids)
    span = hi - lo

    def rand_user(expr: str = "random()") -> str:
        return f"({lo} + floor({expr} * {span})::int)"

    with Step("exchange rates"):
        ExchangeRate.objects.bulk_create(
            ExchangeRate(
                currency=cur, valid_from=dt.date(start.year + m // 12, m % 12 + 1, 1), rate=rate
            )
            for cur, rate in (("EUR", "1.08"), ("GBP", "1.27"))
            for m in range(0, (today.year - start.year) * 12 + today.month)
        )

    unit_ids = _sql_array(u.pk for u in units).replace("'", "")
    stage_list = [s for s, w in STAGES for _ in range(w)]
    stages = _sql_array(stage_list)
    with Step(f"{n['initiatives']:,} initiatives"), transaction.atomic():
        _insert(
            Initiative,
            {
                "code": "'ORG-' || lpad(g::text, 6, '0')",
                "name": "'Initiative ' || g",
                # Skewed to the divisions' departments: a division holds about a tenth.
                "business_unit": f"({unit_ids})[1 + floor(random() * {len(units)})::int]",
                "stage": f"({stages})[1 + floor(random() * {len(stage_list)})::int]",
                "stage_entered_at": f"now() - (random() * {days}) * interval '1 day'",
                "last_activity_at": "now() - (random() * 365) * interval '1 day'",
                "started_on": f"'{start}'::date + floor(random() * {days})::int",
                "summary": "'Generated by bench org'",
            },
            f"FROM generate_series(1, {n['initiatives']}) g",
        )
        first_init = Initiative.objects.order_by("id").values_list("id", flat=True).first()
        _insert(
            Assignment,
            {
                "initiative": "i.id",
                "business_unit": "i.business_unit_id",
                "role": "'requirements_owner'",
                "user": rand_user(),
            },
            "FROM portfolio_initiative i",
        )
    ninit = n["initiatives"]
    init_of = f"({first_init} + (g - 1) % {ninit})"

    years = [today.year - 2, today.year - 1, today.year]
    with Step(f"{n['budgets']:,} budget lines"), transaction.atomic():
        # Line k of an initiative: year k % 3, kind and category from k (unique per
        # initiative, year, kind and category while k < 42).
        _insert(
            Budget,
            {
                "initiative": "i.id",
                "business_unit": "i.business_unit_id",
                "fiscal_year": f"({_sql_array(years).replace(chr(39), '')})[1 + k % 3]",
                "kind": f"({_sql_array(KINDS)})[1 + (k / 3) % 2]",
                "category": f"({_sql_array(CATEGORIES)})[1 + (k / 6) % {len(CATEGORIES)}]",
                "amount": "round((10000 + random() * 490000)::numeric, 2)",
                "currency": "(ARRAY['USD','USD','USD','EUR','GBP'])[1 + floor(random() * 5)::int]",
                "status": "CASE WHEN k % 10 = 9 THEN 'requested' ELSE 'approved' END",
                "requested_by": f"{lo}",
                "approved_by": f"CASE WHEN k % 10 = 9 THEN NULL ELSE {lo + 1} END",
                "requested_at": "now() - interval '400 days'",
                "decided_at": "CASE WHEN k % 10 = 9 THEN NULL ELSE now() - interval '390 days' END",
            },
            f"""FROM generate_series(0, {n["budgets"]} - 1) g
                CROSS JOIN LATERAL (SELECT g / {ninit} AS k) kk
                JOIN portfolio_initiative i ON i.id = {first_init} + g % {ninit}""",
        )

    with Step(f"{n['spend']:,} spend postings"), transaction.atomic():
        _insert(
            SpendEntry,
            {
                "initiative": "i.id",
                "business_unit": "i.business_unit_id",
                "posted_on": f"'{start}'::date + floor(random() * {days + 1})::int",
                "kind": f"({_sql_array(KINDS)})[1 + floor(random() * 2)::int]",
                "category": f"({_sql_array(CATEGORIES)})[1 + floor(random() * {len(CATEGORIES)})::int]",
                "amount": "round((1 + random() * 19999)::numeric, 2)",
                "currency": "(ARRAY['USD','USD','USD','EUR','GBP'])[1 + floor(random() * 5)::int]",
                "vendor": "(ARRAY['Cloud Co','Vendor AG','Data Ltd','Model Labs',''])[1 + floor(random() * 5)::int]",
                "source": "'erp'",
                "reference": "'GEN-' || x.g",
            },
            # random() in a subquery: volatile, so it is drawn once per posting.
            f"""FROM (SELECT g, {first_init} + floor(random() * {ninit})::int AS iid
                      FROM generate_series(1, {n["spend"]}) g) x
                JOIN portfolio_initiative i ON i.id = x.iid""",
        )

    per_kpi = max(1, n["measurements"] // n["kpis"])
    with Step(f"{n['kpis']:,} KPIs, {n['measurements']:,} measurements"), transaction.atomic():
        _insert(
            KPI,
            {
                "initiative": "i.id",
                "business_unit": "i.business_unit_id",
                "name": "'KPI ' || g",
                "kind": "(ARRAY['business','business','operational','technical'])[1 + g % 4]",
                "category": "'cost_reduced'",
                "unit": "'hours'",
                "direction": "'increase'",
                "baseline_value": "100",
                "baseline_date": f"'{start}'::date",
                "value_per_unit": "CASE WHEN g % 4 < 2 THEN 50 END",
                "value_currency": "CASE WHEN g % 4 < 2 THEN 'USD' ELSE '' END",
            },
            f"""FROM generate_series(1, {n["kpis"]}) g
                JOIN portfolio_initiative i ON i.id = {init_of}""",
        )
        _insert(
            Measurement,
            {
                "kpi": "k.id",
                "business_unit": "k.business_unit_id",
                "measured_on": f"'{start}'::date + (m * {max(1, days // per_kpi)})",
                "value": "round((80 + random() * 60)::numeric, 4)",
                "recorded_by": rand_user(),
            },
            f"""FROM portfolio_kpi k CROSS JOIN generate_series(0, {per_kpi - 1}) m""",
        )

    systems = max(1, n["model_versions"] // 4)
    with (
        Step(f"{systems:,} AI systems, {n['model_versions']:,} model versions"),
        transaction.atomic(),
    ):
        _insert(
            AISystem,
            {
                "initiative": "i.id",
                "business_unit": "i.business_unit_id",
                "name": "'System ' || g",
                "owner": rand_user(),
            },
            f"""FROM generate_series(1, {systems}) g
                JOIN portfolio_initiative i ON i.id = {init_of}""",
        )
        _insert(
            ModelVersion,
            {
                "ai_system": "s.id",
                "business_unit": "s.business_unit_id",
                "version": "'v' || v",
                "status": "CASE WHEN v = 4 THEN 'production' ELSE 'retired' END",
                "created_by": f"({lo + 3} + floor(random() * {max(1, span - 3)})::int)",
                "approved_by": f"CASE WHEN v = 4 THEN {lo + 2} END",
            },
            "FROM governance_aisystem s CROSS JOIN generate_series(1, 4) v",
        )

    with Step("after-load hooks, VACUUM and ANALYZE"):
        after_generate()
        with connection.cursor() as cursor:
            # The steady state autovacuum keeps in production: the bulk loads rewrote
            # every rollup row, leaving a dead copy of each for the pages to skip.
            cursor.execute("VACUUM (ANALYZE)")
    counts = {
        "units": BusinessUnit.objects.count(),
        "users": User.objects.count(),
        "memberships": UnitMembership.objects.count(),
        "initiatives": Initiative.objects.count(),
        "budgets": Budget.objects.count(),
        "spend": SpendEntry.objects.count(),
        "kpis": KPI.objects.count(),
        "measurements": Measurement.objects.count(),
        "model_versions": ModelVersion.objects.count(),
    }
    return counts


def after_generate() -> None:
    """Rebuild maintained summaries from the raw rows (a no-op where none exist)."""
    from finance import rollups

    rollups.rebuild()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench org", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--database", help="create (and migrate) this scratch database first")
    parser.add_argument("--reset", action="store_true", help="drop and recreate --database")
    parser.add_argument("--seed", type=float, default=0.42)
    parser.add_argument("--template", help="create --database from this (migrated) database")
    args, _ = parser.parse_known_args(argv)
    if args.database:
        create_database(args.database, reset=args.reset, template=args.template)
        os.environ["DATABASE_URL"] = database_url(args.database)
    elif urlparse(os.environ.get("DATABASE_URL", "")).path.strip("/") in ("", "postgres"):
        raise SystemExit("Give --database NAME (a scratch database), never postgres.")
    _django()
    from django.core.management import call_command

    total = time.perf_counter()
    print(f"migrating {os.environ['DATABASE_URL']}", flush=True)
    call_command("migrate", verbosity=0)
    print(f"generating an organisation at scale {args.scale}", flush=True)
    counts = generate(scale=args.scale, seed=args.seed)
    print(", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"done in {time.perf_counter() - total:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
