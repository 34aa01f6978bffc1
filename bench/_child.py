"""The harness the import benchmarks share: run one import in a fresh interpreter, so its
timing and its peak memory (max RSS from ``resource.getrusage``) are the import's alone.

The benchmark module is re-run as ``python -m bench.<module> --child ARG...``; its child
entry point does the import and calls :func:`report` with what it measured; the parent's
:func:`run` returns that dictionary (plus ``max_rss_mb``).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portfolio.settings")
    import django

    django.setup()


def report(figures: dict) -> None:
    """In the child: print ``figures`` and the child's peak RSS as the last line."""
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**figures, "max_rss_mb": rss_mb}))


def run(module: str, *args: str) -> dict:
    """In the parent: run ``python -m module --child *args`` and return its report."""
    proc = subprocess.run(
        [sys.executable, "-m", module, "--child", *map(str, args)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"The import child failed ({proc.returncode}).")
    return json.loads(proc.stdout.strip().splitlines()[-1])
