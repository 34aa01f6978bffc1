"""Imports flow one way: people <- portfolio <- finance, governance (DESIGN.md section 3).

- ``people`` imports nothing from the apps above it, anywhere.
- ``finance`` and ``governance`` never import each other, anywhere.
- ``portfolio`` reaches up in one place only (DESIGN.md section 5): the
  ``portfolio.crossapp`` package, which pages, exports, the API, tasks and the demo loader
  ask for money and governance; it imports finance and governance inside functions,
  never at module level (portfolio loads before them). No other portfolio module imports
  them, at any depth.
Migrations are exempt (they name other apps' migrations by string).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("people", "portfolio", "finance", "governance")
NEVER = {
    "people": {"portfolio", "finance", "governance"},
    "finance": {"governance"},
    "governance": {"finance"},
}
UPWARD = {"finance", "governance"}
CROSS_APP = Path("portfolio/crossapp")


def _modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _imports(path: Path, *, module_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


MODULES = list(_modules())


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(ROOT)) for p in MODULES])
def test_module_imports_only_downwards(path):
    rel = path.relative_to(ROOT)
    app = rel.parts[0]
    anywhere = _imports(path, module_level_only=False)
    if app in NEVER:
        assert not anywhere & NEVER[app], f"{rel} imports {anywhere & NEVER[app]}"
        return
    if app != "portfolio":
        return
    if rel.is_relative_to(CROSS_APP):
        top = _imports(path, module_level_only=True)
        assert not top & UPWARD, f"{rel} imports {top & UPWARD} at module level"
    else:
        assert not anywhere & UPWARD, (
            f"{rel} imports {anywhere & UPWARD}: ask portfolio.crossapp instead"
        )


def test_the_scan_sees_imports_inside_functions(tmp_path):
    """A lazy import in a nested function counts (the rule is "at any depth")."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    def g():\n        from finance.selectors import x\n")
    assert _imports(module, module_level_only=False) == {"finance"}
    assert _imports(module, module_level_only=True) == set()
