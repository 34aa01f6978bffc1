"""Imports flow one way: people <- portfolio <- finance, governance (DESIGN.md section 3).

- ``people`` imports nothing from the apps above it, anywhere.
- ``finance`` and ``governance`` never import each other, anywhere.
- ``portfolio``'s data layer (models, querysets, services, choices) never reaches up; its
  presentation and orchestration modules (views, selectors, tasks, API) may ask finance
  and governance through a function-level (lazy) import, never at module level.
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
PORTFOLIO_DATA_LAYER = {"models.py", "querysets.py", "services.py", "choices.py"}
# ``portfolio`` is also the Django project. The demo loader builds every app's data, so it
# sits at the project level, above all four apps.
PROJECT_LEVEL = {"portfolio/management/commands/seed_demo.py"}


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
    if str(rel) in PROJECT_LEVEL:
        return
    anywhere = _imports(path, module_level_only=False)
    if app in NEVER:
        assert not anywhere & NEVER[app], f"{rel} imports {anywhere & NEVER[app]}"
        return
    upward = {"finance", "governance"}
    if len(rel.parts) == 2 and rel.name in PORTFOLIO_DATA_LAYER:
        assert not anywhere & upward, f"{rel} imports {anywhere & upward}"
    else:
        top = _imports(path, module_level_only=True)
        assert not top & upward, f"{rel} imports {top & upward} at module level"
