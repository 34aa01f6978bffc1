#!/usr/bin/env python
"""What a machine can do with nothing but API tokens, end to end.

With the token of someone who may edit a business unit (``--token``), it:

1. creates an initiative in that unit;
2. adds a KPI and records a measurement;
3. pushes N spend postings (default 10,000) in batches, then pushes the same postings
   again: the second push creates nothing (idempotent on source + reference);
4. registers an AI system and a model version, and has it promoted to production by
   a *different* person (``--approver-token``: a CoE member or the unit's lead). The
   creator's own attempt to promote it is refused first (separation of duties). If the
   production gate needs control attestations, it records them and retries.

With ``--foreign-token`` (someone in another unit), it then checks that every record it
created is a 404 for that token, for reads and for writes.

Usage (a server on http://127.0.0.1:8000, tokens from the "API tokens" page)::

    .venv/bin/python scripts/api_demo.py --url http://127.0.0.1:8000 \\
        --token aip_... --approver-token aip_... --foreign-token aip_... [--spend 10000]

Or run only the isolation check against records made earlier::

    .venv/bin/python scripts/api_demo.py --url ... --foreign-token aip_... \\
        --check-initiative 123

Prints a JSON summary (ids, counts, timings) and exits non-zero if any step fails.
Tokens may also come from API_TOKEN, API_APPROVER_TOKEN and API_FOREIGN_TOKEN.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid

import requests


class DemoError(RuntimeError):
    pass


class Client:
    def __init__(self, base_url: str, token: str):
        self.base = base_url.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, expect: int | tuple[int, ...], **kwargs):
        response = self.session.request(method, self.base + path, timeout=300, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise DemoError(
                f"{method} {path}: expected {expected}, got {response.status_code}: "
                f"{response.text[:500]}"
            )
        return response.json() if response.content else None


def _spend_rows(code: str, initiative_id: int, count: int) -> list[dict]:
    start = dt.date.today().replace(day=1)
    return [
        {
            "reference": f"{code}-{i:06d}",
            "initiative": initiative_id,
            "posted_on": (start - dt.timedelta(days=i % 300)).isoformat(),
            "kind": "operational" if i % 3 else "one_time",
            "category": ("compute", "vendor", "personnel", "data")[i % 4],
            "amount": f"{100 + (i % 997) * 1.25:.2f}",
            "currency": "USD",
            "vendor": "Cloud Co",
        }
        for i in range(count)
    ]


def push_spend(client: Client, rows: list[dict], source: str, chunk: int) -> dict:
    totals = {"created": 0, "updated": 0, "unchanged": 0}
    for start in range(0, len(rows), chunk):
        result = client.call(
            "POST",
            "/spend-entries/bulk/",
            200,
            json={"source": source, "rows": rows[start : start + chunk]},
        )
        for key in totals:
            totals[key] += result[key]
    return totals


def promote(creator: Client, approver: Client, version_id: int, initiative_id: int) -> dict:
    path = f"/model-versions/{version_id}/promote/"
    # The creator may not approve their own version (separation of duties; or they may
    # not approve versions at all).
    creator.call("POST", path, 403)
    response = approver.session.post(approver.base + path, timeout=60)
    if response.status_code == 400 and "controls must be attested" in response.text:
        # The production gate asks for attestations; record them as the team would.
        message = response.json()["message"]
        codes = [part.strip().split(" ", 1)[0] for part in message.split(":", 1)[1].split(",")]
        for code in codes:
            control = creator.call("GET", "/controls/", 200, params={"code": code})["results"][0]
            creator.call(
                "POST",
                "/attestations/",
                201,
                json={
                    "initiative": initiative_id,
                    "control": control["id"],
                    "status": "attested",
                    "evidence": "Demo: runbook and test report linked.",
                    "attested_on": dt.date.today().isoformat(),
                },
            )
        response = approver.session.post(approver.base + path, timeout=60)
    if response.status_code != 200:
        raise DemoError(f"promotion failed: {response.status_code} {response.text[:500]}")
    return response.json()


def run(
    *,
    url: str,
    token: str,
    approver_token: str | None,
    spend: int = 10_000,
    chunk: int = 5_000,
    unit: int | None = None,
) -> dict:
    client = Client(url, token)
    summary: dict = {"timings": {}}
    units = client.call("GET", "/business-units/", 200, params={"limit": 500})["results"]
    if not units:
        raise DemoError("this token's user sees no business unit")
    unit_id = unit or units[0]["id"]
    code = f"DEMO-{uuid.uuid4().hex[:8].upper()}"

    initiative = client.call(
        "POST",
        "/initiatives/",
        201,
        json={"code": code, "name": f"API demo {code}", "business_unit": unit_id},
    )
    summary["initiative"] = initiative["id"]

    kpi = client.call(
        "POST",
        "/kpis/",
        201,
        json={
            "initiative": initiative["id"],
            "name": "Hours saved per month",
            "kind": "business",
            "category": "time_saved",
            "unit": "hours",
        },
    )
    measurement = client.call(
        "POST",
        "/measurements/",
        201,
        json={"kpi": kpi["id"], "measured_on": dt.date.today().isoformat(), "value": "420"},
    )
    summary["kpi"], summary["measurement"] = kpi["id"], measurement["id"]

    rows = _spend_rows(code, initiative["id"], spend)
    source = "demo-erp"
    started = time.perf_counter()
    summary["spend_first_push"] = push_spend(client, rows, source, chunk)
    summary["timings"]["spend_first_push_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    summary["spend_second_push"] = push_spend(client, rows, source, chunk)
    summary["timings"]["spend_second_push_s"] = round(time.perf_counter() - started, 2)
    if summary["spend_first_push"]["created"] != spend:
        raise DemoError(f"first push created {summary['spend_first_push']} of {spend}")
    if summary["spend_second_push"]["created"] != 0 or summary["spend_second_push"]["updated"]:
        raise DemoError(f"second push was not a no-op: {summary['spend_second_push']}")

    system = client.call(
        "POST", "/ai-systems/", 201, json={"initiative": initiative["id"], "name": f"{code} model"}
    )
    version = client.call(
        "POST",
        "/model-versions/",
        201,
        json={"ai_system": system["id"], "version": "1.0.0", "metrics": {"auc": 0.91}},
    )
    summary["ai_system"], summary["model_version"] = system["id"], version["id"]
    if approver_token:
        promoted = promote(client, Client(url, approver_token), version["id"], initiative["id"])
        if promoted["status"] != "production":
            raise DemoError(f"the version is {promoted['status']}, not in production")
        summary["promoted_by"] = promoted["approved_by"]
    return summary


def check_isolation(*, url: str, foreign_token: str, ids: dict) -> dict:
    """Another unit's token: every record made above is a 404, reading or writing."""
    client = Client(url, foreign_token)
    checks = {
        ("GET", f"/initiatives/{ids['initiative']}/"): None,
        ("PATCH", f"/initiatives/{ids['initiative']}/"): {"name": "hijacked"},
    }
    for key, path in (
        ("kpi", "/kpis/{}/"),
        ("measurement", "/measurements/{}/"),
        ("ai_system", "/ai-systems/{}/"),
        ("model_version", "/model-versions/{}/"),
    ):
        if key in ids:
            checks[("GET", path.format(ids[key]))] = None
    if "model_version" in ids:
        checks[("POST", f"/model-versions/{ids['model_version']}/promote/")] = None
    results = {}
    for (method, path), body in checks.items():
        response = client.session.request(method, client.base + path, json=body, timeout=60)
        results[f"{method} {path}"] = response.status_code
        if response.status_code != 404:
            raise DemoError(f"{method} {path} with another unit's token: {response.status_code}")
    spend = client.call(
        "GET", "/spend-entries/", 200, params={"initiative": ids["initiative"], "limit": 1}
    )
    if spend["count"]:
        raise DemoError("another unit's token can list this initiative's spend")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("API_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("API_TOKEN"))
    parser.add_argument("--approver-token", default=os.environ.get("API_APPROVER_TOKEN"))
    parser.add_argument("--foreign-token", default=os.environ.get("API_FOREIGN_TOKEN"))
    parser.add_argument("--unit", type=int, help="Business unit id (default: the first visible)")
    parser.add_argument("--spend", type=int, default=10_000, help="Postings to push")
    parser.add_argument("--chunk", type=int, default=5_000, help="Postings per request")
    parser.add_argument("--check-initiative", type=int, help="Only check isolation of this id")
    args = parser.parse_args(argv)
    try:
        if args.check_initiative:
            if not args.foreign_token:
                parser.error("--check-initiative needs --foreign-token")
            ids = {"initiative": args.check_initiative}
            summary = {
                "isolation": check_isolation(
                    url=args.url, foreign_token=args.foreign_token, ids=ids
                )
            }
        else:
            if not args.token:
                parser.error("--token (or API_TOKEN) is required")
            started = time.perf_counter()
            summary = run(
                url=args.url,
                token=args.token,
                approver_token=args.approver_token,
                spend=args.spend,
                chunk=args.chunk,
                unit=args.unit,
            )
            if args.foreign_token:
                summary["isolation"] = check_isolation(
                    url=args.url, foreign_token=args.foreign_token, ids=summary
                )
            summary["timings"]["total_s"] = round(time.perf_counter() - started, 2)
    except (DemoError, requests.RequestException) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
