"""OpenAPI details drf-spectacular cannot guess: the token scheme and the error shape."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error: a stable code, a message for people, per-field messages.",
    "properties": {
        "code": {"type": "string", "example": "invalid"},
        "message": {"type": "string"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Field name (or rows.<index>.<field>) to its messages.",
        },
    },
    "required": ["code", "message", "fields"],
}

_ERROR_RESPONSES = {
    "400": "Bad input; see fields.",
    "401": "Not signed in, or the token is unknown or revoked.",
    "403": "In scope but not allowed (role, read-only token, separation of duties).",
    "404": "No such record in your scope.",
    "409": "Conflicts with a concurrent change.",
    "412": "If-Match does not match the record's current ETag.",
    "429": "Too many writes for this token; retry after the Retry-After header.",
}


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "people.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <secret>`; create one on the API tokens page.",
        }


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: document the error shape on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for status, description in _ERROR_RESPONSES.items():
                if method == "get" and status in ("409", "412", "429"):
                    continue
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                )
    return result
