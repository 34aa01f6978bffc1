"""Statement-level ``AFTER`` triggers with transition tables: the SQL every maintained
rollup shares (portfolio/value_rollup.py; finance's rollups, variance, budget, year and
value tables). Here, the lowest app that has such triggers, so both apps may use it."""

from __future__ import annotations

OPS = ("insert", "update", "delete")


def statement_trigger(
    name: str,
    op: str,
    table: str,
    function: str,
    *,
    old: str = "old_rows",
    new: str = "new_rows",
) -> str:
    """(Re)create trigger ``name``: after each ``op`` statement ("insert", "update" or
    "delete") on ``table``, ``function()`` runs once with the statement's rows as ``new``
    (insert, update) and ``old`` (update, delete)."""
    op = op.lower()
    referencing = {
        "insert": f"NEW TABLE AS {new}",
        "update": f"OLD TABLE AS {old} NEW TABLE AS {new}",
        "delete": f"OLD TABLE AS {old}",
    }[op]
    return f"""
DROP TRIGGER IF EXISTS {name} ON {table};
CREATE TRIGGER {name} AFTER {op.upper()} ON {table}
    REFERENCING {referencing}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();"""


def statement_triggers(
    prefix: str, table: str, function: str, *, old: str = "old_rows", new: str = "new_rows"
) -> str:
    """``{prefix}_insert``, ``_update`` and ``_delete`` on ``table``, all running
    ``function()`` (which tells them apart by ``TG_OP``)."""
    return "".join(
        statement_trigger(f"{prefix}_{op}", op, table, function, old=old, new=new) for op in OPS
    )


def drop_statement_triggers(prefix: str, table: str) -> str:
    return "".join(f"\nDROP TRIGGER IF EXISTS {prefix}_{op} ON {table};" for op in OPS)


def changed_rows(columns: str, side: str) -> str:
    """The rows of an UPDATE's ``side`` transition table (``"old"`` or ``"new"``) whose
    ``columns`` (a select list over ``r``, the id among them) no row of the other table
    equals, as a parenthesised subquery: the old versions of the changed rows, or their new
    versions. NULLs compare equal, as with ``IS DISTINCT FROM``.

    Written with EXCEPT, never as a join of ``old_rows`` to ``new_rows``: a trigger
    function's static statements are planned once per session, with the transition tables'
    sizes of that first call, so a join planned for a one-row update stays a nested loop
    for the next bulk one (5,000 rows: 25 million comparisons, seconds). EXCEPT hashes or
    sorts, whatever the sizes it was planned for."""
    other = {"old": "new", "new": "old"}[side]
    return f"(SELECT {columns} FROM {side}_rows r EXCEPT SELECT {columns} FROM {other}_rows r)"
