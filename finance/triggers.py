"""Statement-level ``AFTER`` triggers with transition tables: the SQL the maintained rollups
share (finance/budget_rollup.py, finance/year_rollup.py, finance/value_rollup.py)."""

from __future__ import annotations

OPS = ("insert", "update", "delete")


def statement_triggers(
    prefix: str, table: str, function: str, *, old: str = "old_rows", new: str = "new_rows"
) -> str:
    """(Re)create ``{prefix}_insert``, ``_update`` and ``_delete`` on ``table``, each
    running ``function()`` once per statement with the statement's rows as ``new`` (insert,
    update) and ``old`` (update, delete)."""
    referencing = {
        "insert": f"NEW TABLE AS {new}",
        "update": f"OLD TABLE AS {old} NEW TABLE AS {new}",
        "delete": f"OLD TABLE AS {old}",
    }
    return "".join(
        f"""
DROP TRIGGER IF EXISTS {prefix}_{op} ON {table};
CREATE TRIGGER {prefix}_{op} AFTER {op.upper()} ON {table}
    REFERENCING {referencing[op]}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();"""
        for op in OPS
    )


def drop_statement_triggers(prefix: str, table: str) -> str:
    return "".join(f"\nDROP TRIGGER IF EXISTS {prefix}_{op} ON {table};" for op in OPS)
