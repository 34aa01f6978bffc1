"""Browsable API docs rendered on the server from the OpenAPI schema (no CDN, no
third-party JavaScript): every operation with its parameters, body and responses."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from drf_spectacular.generators import SchemaGenerator


def _ref_name(schema: dict | None) -> str:
    if not schema:
        return ""
    ref = schema.get("$ref") or schema.get("items", {}).get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    return f"{name}[]" if "items" in schema and name else name


@login_required
def api_docs(request):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            operations.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "id": op.get("operationId", ""),
                    "tag": (op.get("tags") or ["api"])[0],
                    "description": op.get("description", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "type": p.get("schema", {}).get("type", ""),
                            "required": p.get("required", False),
                            "description": p.get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": _ref_name(body.get("schema")),
                    "responses": [
                        (
                            code,
                            _ref_name(
                                r.get("content", {}).get("application/json", {}).get("schema")
                            ),
                        )
                        for code, r in op.get("responses", {}).items()
                    ],
                }
            )
    components = schema.get("components", {}).get("schemas", {})
    return render(
        request,
        "api/docs.html",
        {"schema": schema, "operations": operations, "components": sorted(components.items())},
    )
