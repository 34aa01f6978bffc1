"""The API code keeps the import direction people <- portfolio <- finance, governance:
module-level imports only (lazy imports inside functions are the allowed way up)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "people": {"portfolio", "finance", "governance"},
    "portfolio": {"finance", "governance"},
    "finance": {"governance"},
    "governance": {"finance"},
}
FILES = [
    *sorted((ROOT / "people" / "api").glob("*.py")),
    ROOT / "people" / "authentication.py",
    ROOT / "people" / "token_views.py",
    *sorted((ROOT / "portfolio" / "api").glob("*.py")),
    ROOT / "portfolio" / "api_errors.py",
    *sorted((ROOT / "finance" / "api").glob("*.py")),
    *sorted((ROOT / "governance" / "api").glob("*.py")),
]


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:  # module level only
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_api_module_imports_only_downwards(path):
    app = path.relative_to(ROOT).parts[0]
    assert not (_top_level_imports(path) & FORBIDDEN[app])
