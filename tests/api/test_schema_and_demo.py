"""The OpenAPI schema validates without warnings; a fuzzer finds no server error and no
response that breaks the schema; the demo script works with only tokens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from finance.models import SpendEntry
from people.authentication import api_token_create
from portfolio.models import Initiative

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import api_demo  # noqa: E402


@pytest.mark.django_db
def test_openapi_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/initiatives/" in out.read_text()


@pytest.mark.django_db
def test_schema_and_docs_pages_are_served(client, lead_a):
    client.force_login(lead_a)
    assert client.get("/api/schema/?format=json").status_code == 200
    schema = client.get("/api/schema/?format=json").json()
    assert "/api/v1/spend-entries/bulk/" in schema["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    body = docs.content.decode()
    # Swagger UI from the sidecar package, its init script a separate same-origin request.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in body
    assert "http://" not in body and "https://" not in body  # no CDN
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "/api/schema/" in script.content.decode()
    redoc = client.get("/api/redoc/")
    assert redoc.status_code == 200
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in (
        redoc.content.decode()
    )
    assert "googleapis" not in redoc.content.decode()


@pytest.mark.django_db(transaction=True)
def test_demo_script_with_tokens_only_and_another_units_token_gets_404s(
    live_server, lead_a, coe, lead_b, unit_a
):
    _, token = api_token_create(user=lead_a, name="demo")
    _, approver = api_token_create(user=coe, name="demo approver")
    _, foreign = api_token_create(user=lead_b, name="other unit")
    summary = api_demo.run(
        url=live_server.url,
        token=token,
        approver_token=approver,
        spend=400,
        chunk=150,
        unit=unit_a.pk,
    )
    assert summary["spend_first_push"]["created"] == 400
    assert summary["spend_second_push"] == {"created": 0, "updated": 0, "unchanged": 400}
    assert summary["promoted_by"] == coe.pk
    initiative = Initiative.objects.get(pk=summary["initiative"])
    assert initiative.business_unit == unit_a
    assert SpendEntry.objects.filter(initiative=initiative).count() == 400
    isolation = api_demo.check_isolation(url=live_server.url, foreign_token=foreign, ids=summary)
    assert set(isolation.values()) == {404}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    live_server, pmo, lead_a, initiative_a, tmp_path
):
    _, token = api_token_create(user=lead_a, name="fuzzer")
    report = tmp_path / "report"
    command = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{live_server.url}/api/schema/?format=json",
        "--url",
        f"{live_server.url}/api/v1",
        "-H",
        f"Authorization: Token {token}",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        "8",
        "--workers",
        "1",
        "--seed",
        "7",
        "--request-timeout",
        "20",
        "--max-time",
        "60",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-dir",
        str(report),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    junit = next(report.glob("*.xml")).read_text()
    assert junit.count("<testcase") >= 40, junit[:2000]  # every operation was exercised
    print(result.stdout[-3000:])
