"""OpenAPI post-processing: the error envelope every endpoint may answer with, documented once."""

from __future__ import annotations

ERROR_COMPONENT = {
    "type": "object",
    "description": "The error envelope of every /api/ error response.",
    "properties": {
        "detail": {"type": "string", "description": "A human message."},
        "code": {
            "type": "string",
            "description": "A machine code: invalid, parse_error, invalid_rows, invalid_file, not_authenticated, "
            "token_not_valid, invalid_credentials, permission_denied, registration_closed, not_found, "
            "method_not_allowed, duplicate_upload, user_owns_data, conflict, payload_too_large, "
            "unsupported_media_type, idempotency_key_reused, idempotency_in_progress, throttled, too_many_points, "
            "service_unavailable, server_error.",
        },
        "missing": {
            "type": "array",
            "items": {"type": "string"},
            "description": "403 permission_denied: the permissions (app.codename) the caller lacks; empty when the "
            "refusal is a rule no permission lifts (ownership, no escalation), which the detail explains.",
        },
        "errors": {
            "description": "Validation errors (400 invalid: field -> messages, or list index -> field errors; "
            "400 invalid_rows: a list of {row, column, message}).",
            "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
        },
    },
    "required": ["detail", "code"],
}

_DESCRIPTIONS = {
    "400": "Invalid input.",
    "401": "Missing, invalid, expired or revoked credentials.",
    "403": "Authenticated, but not allowed.",
    "404": "Not found, or not visible to the caller.",
    "429": "Throttled; see Retry-After.",
    "409": "Conflict (idempotency_in_progress: a request with this Idempotency-Key is still running).",
    "422": "idempotency_key_reused: this Idempotency-Key was used for a different request.",
}


_TOKEN_ENDPOINTS = ("/login", "/login/mfa", "/refresh", "/logout")


def _takes_idempotency_key(operation: dict) -> bool:
    return any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))


REPLAYED_HEADER = {
    "description": "`true` when this is the kept response of an earlier request with the same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}


def _document_replay_header(operation: dict) -> None:
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            response.setdefault("headers", {})["Idempotent-Replayed"] = REPLAYED_HEADER


def add_error_responses(result: dict, generator, request, public) -> dict:
    """Add ``ErrorEnvelope`` and reference it from each operation's plausible error statuses."""
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorEnvelope"] = ERROR_COMPONENT
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    for path, operations in result.get("paths", {}).items():
        public_auth = "/auth/" in path
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = ["400"] if method in ("post", "patch", "put") or operation.get("parameters") else []
            if public_auth:
                statuses += ["401"] if path.rstrip("/").endswith(_TOKEN_ENDPOINTS) else []
                statuses += ["403"] if path.rstrip("/").endswith("/register") else []
                statuses += ["429"]
            else:
                statuses += ["401", "403"]
            if "{" in path:
                statuses += ["404"]
            if _takes_idempotency_key(operation):
                statuses += ["409", "422"]
                _document_replay_header(operation)
            for status in statuses:
                operation["responses"].setdefault(status, {"description": _DESCRIPTIONS[status], "content": reference})
            for status, response in operation["responses"].items():
                # Error statuses an operation declares itself (409, 429...) carry the envelope too.
                if status.startswith("4") and "content" not in response:
                    response["content"] = reference
    return result
