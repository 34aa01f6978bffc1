"""Run benchmarks by module name: ``python -m bench [spend_import] [inventory] [--rows N]``,
``python -m bench org --database NAME [--scale F]``, ``python -m bench pages``.

Each benchmark is a module ``bench/<name>.py`` with ``main(argv: list[str]) -> int``; with
no name, every module in ``BENCHMARKS`` runs in turn with the same extra arguments.
Benchmarks write to the database in ``DATABASE_URL``: point it at a scratch database.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["spend_import", "inventory", "focus_import", "audit_log"]
# Run only when named: they build or need a generated organisation.
ON_DEMAND = ["org", "pages"]


def main(argv: list[str]) -> int:
    known = BENCHMARKS + ON_DEMAND
    names = [a for a in argv if not a.startswith("-") and a in known] or BENCHMARKS
    rest = [a for a in argv if a not in names]
    status = 0
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"[bench] {name}: not available, skipped")
            continue
        print(f"[bench] {name}")
        status |= module.main(rest) or 0
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
