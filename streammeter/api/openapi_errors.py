"""Document the error answers in `/openapi.json` as they are sent (docs/security.md).

FastAPI documents a 422 `HTTPValidationError` on every route with parameters, but invalid
requests are answered 400 in Mux's envelope (errors.py), and the Wowza family answers every
error, 422 included, in Wowza's `meta` envelope. This replaces that 422 with a `4XX` response
whose schema is the envelope of the route's API, so that clients generated from the spec, and
schema checkers such as schemathesis, read the errors right.
"""

from __future__ import annotations

from typing import Any

from streammeter.api.limits import is_wowza

MUX_ERROR = {
    "title": "Error",
    "type": "object",
    "description": "Mux's error envelope",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "messages"],
            "properties": {
                "type": {"type": "string", "examples": ["invalid_parameters"]},
                "messages": {"type": "array", "items": {"type": "string"}},
            },
        }
    },
}
WOWZA_ERROR = {
    "title": "WowzaError",
    "type": "object",
    "description": "Wowza's error envelope",
    "required": ["meta"],
    "properties": {
        "meta": {
            "type": "object",
            "required": ["status", "code"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string", "examples": ["ERR-401-InvalidToken"]},
                "title": {"type": "string"},
                "message": {"type": "string"},
                "description": {"type": "string"},
                "links": {"type": "array"},
            },
        }
    },
}
_REF = "#/components/schemas/"
_VALIDATION_REF = _REF + "HTTPValidationError"


def _error_response(name: str, wowza: bool) -> dict[str, Any]:
    what = "Wowza's `meta` envelope" if wowza else 'Mux\'s envelope `{"error": {...}}`'
    return {
        "description": f"An error (invalid parameters, credentials, limits), in {what}",
        "content": {"application/json": {"schema": {"$ref": _REF + name}}},
    }


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with every operation's errors documented as sent (changed in place)."""
    for path, operations in spec.get("paths", {}).items():
        wowza = is_wowza(path)
        name = "WowzaError" if wowza else "Error"
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            documented = responses.get("422", {}).get("content", {}).get("application/json", {})
            if documented.get("schema", {}).get("$ref") == _VALIDATION_REF:
                del responses["422"]
            responses.setdefault("4XX", _error_response(name, wowza))
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", MUX_ERROR)
    schemas.setdefault("WowzaError", WOWZA_ERROR)
    still_used = _VALIDATION_REF in repr(spec.get("paths", {}))
    if not still_used:
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return spec


#: How callers authenticate (api/auth.py, api/wowza_auth.py); /docs shows an Authorize button.
SECURITY_SCHEMES = {
    "accessToken": {
        "type": "http",
        "scheme": "basic",
        "description": "An access token: its id as the user name, its secret as the password",
    },
    "wowzaJWT": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "wscApiKey": {"type": "apiKey", "in": "header", "name": "wsc-api-key"},
    "wscAccessKey": {"type": "apiKey", "in": "header", "name": "wsc-access-key"},
}
#: Paths anyone may read.
PUBLIC_PATHS = frozenset({"/healthz", "/metrics"})


def document_security(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with its security schemes, and each operation's (changed in place)."""
    spec.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in spec.get("paths", {}).items():
        if path in PUBLIC_PATHS:
            continue
        if is_wowza(path):
            security = [{"wowzaJWT": []}, {"wscApiKey": [], "wscAccessKey": []}]
        else:
            security = [{"accessToken": []}]
        for operation in operations.values():
            operation.setdefault("security", security)
    return spec


def install(app: Any) -> None:
    """Post-process the app's generated OpenAPI document (built once, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_security(document_errors(generate()))
        return app.openapi_schema

    app.openapi = openapi
