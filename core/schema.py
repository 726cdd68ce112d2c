"""OpenAPI post-processing: the error envelope every endpoint may answer with, documented once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.request import Request

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


def _takes_idempotency_key(operation: dict[str, Any]) -> bool:
    return any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))


REPLAYED_HEADER = {
    "description": "`true` when this is the kept response of an earlier request with the same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}


def _document_replay_header(operation: dict[str, Any]) -> None:
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            response.setdefault("headers", {})["Idempotent-Replayed"] = REPLAYED_HEADER


def add_error_responses(
    result: dict[str, Any], generator: SchemaGenerator, request: Request | None, public: bool
) -> dict[str, Any]:
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


# --- Tags, summaries and descriptions ---------------------------------------------------------------------------
# What Swagger UI shows app developers. View docstrings are written for the people who maintain the code and stay
# out of the schema (DISABLE_DOCSTRING_DESCRIPTIONS); every operation gets a tag by its path and a one-line summary.

TAGS = [
    {"name": "auth", "description": "Register, log in (with two-factor), refresh and log out; password reset."},
    {"name": "users", "description": "The caller's own account: profile, password, two-factor, API keys."},
    {"name": "admin", "description": "Users, roles, permissions and API keys of everyone (RBAC-gated)."},
    {"name": "metrics", "description": "Metric values: list, write, names, time series and CSV export."},
    {"name": "kpis", "description": "KPIs with their targets, their series, and the summary of all of them."},
    {"name": "uploads", "description": "CSV imports of metrics and their history."},
    {"name": "alerts", "description": "Alert rules on KPIs, their events and deliveries."},
    {"name": "boards", "description": "Saved dashboards: panels on a grid, their data, export and import."},
    {"name": "system", "description": "Where things are."},
]

# (path prefix after /api/v1/, tag): the first that matches wins.
_TAG_BY_PREFIX = (
    ("auth/", "auth"),
    ("users/", "users"),
    ("admin/", "admin"),
    ("dashboard/metrics", "metrics"),
    ("dashboard/kpis", "kpis"),
    ("dashboard/summary", "kpis"),
    ("dashboard/upload", "uploads"),
    ("dashboard/alerts", "alerts"),
    ("dashboard/boards", "boards"),
)

# (method, path after /api/v1/ without the trailing slash) -> one-line summary.
SUMMARIES = {
    ("get", ""): "Index of the API",
    ("post", "auth/register"): "Create an account (gets the default role, viewer)",
    ("post", "auth/login"): "Log in with email and password: an access and a refresh token",
    ("post", "auth/login/mfa"): "Second login step for two-factor accounts",
    ("post", "auth/refresh"): "Exchange a refresh token for a new pair (rotates)",
    ("post", "auth/logout"): "Revoke a refresh token",
    ("post", "auth/password-reset"): "Mail a password reset link",
    ("post", "auth/password-reset/confirm"): "Set a new password from a reset link",
    ("get", "users/me"): "The caller's account, roles and effective permissions",
    ("patch", "users/me"): "Change the caller's name",
    ("post", "users/me/password"): "Change the caller's password",
    ("post", "users/me/mfa/totp"): "Start two-factor enrolment",
    ("post", "users/me/mfa/totp/confirm"): "Confirm two-factor enrolment with a code",
    ("delete", "users/me/mfa"): "Turn two-factor off",
    ("post", "users/me/mfa/recovery-codes"): "Replace the recovery codes",
    ("get", "users/me/api-keys"): "List the caller's API keys",
    ("post", "users/me/api-keys"): "Create an API key (the key is shown once)",
    ("get", "users/me/api-keys/{id}"): "One of the caller's API keys",
    ("delete", "users/me/api-keys/{id}"): "Revoke one of the caller's API keys",
    ("get", "admin/users"): "List users",
    ("post", "admin/users"): "Create a user",
    ("get", "admin/users/{id}"): "One user",
    ("patch", "admin/users/{id}"): "Change a user",
    ("delete", "admin/users/{id}"): "Delete a user who owns no data",
    ("post", "admin/users/{id}/mfa-reset"): "Turn a user's two-factor off",
    ("get", "admin/roles"): "List roles",
    ("post", "admin/roles"): "Create a role",
    ("get", "admin/roles/{id}"): "One role",
    ("patch", "admin/roles/{id}"): "Change a role",
    ("delete", "admin/roles/{id}"): "Delete a role",
    ("get", "admin/permissions"): "The assignable permissions",
    ("get", "admin/api-keys"): "List everyone's API keys",
    ("get", "admin/api-keys/{id}"): "One API key",
    ("delete", "admin/api-keys/{id}"): "Revoke an API key",
    ("get", "dashboard/metrics"): "List the metrics the caller may see",
    ("post", "dashboard/metrics"): "Write one metric, or a list of up to 10,000",
    ("get", "dashboard/metrics/{id}"): "One metric",
    ("patch", "dashboard/metrics/{id}"): "Change one of the caller's metrics",
    ("delete", "dashboard/metrics/{id}"): "Delete one of the caller's metrics",
    ("get", "dashboard/metrics/names"): "Metric names with their counts and time spans",
    ("get", "dashboard/metrics/series"): "A metric aggregated per time bucket",
    ("get", "dashboard/metrics/export"): "The metrics as CSV",
    ("get", "dashboard/kpis"): "List KPIs",
    ("post", "dashboard/kpis"): "Create a KPI",
    ("get", "dashboard/kpis/{id}"): "One KPI",
    ("patch", "dashboard/kpis/{id}"): "Change a KPI",
    ("delete", "dashboard/kpis/{id}"): "Delete a KPI",
    ("get", "dashboard/kpis/{id}/series"): "A KPI per period, with its target",
    ("get", "dashboard/summary"): "Every KPI's current period against its target",
    ("post", "dashboard/upload"): "Import a CSV file of metrics",
    ("get", "dashboard/uploads"): "List uploads",
    ("get", "dashboard/uploads/{id}"): "One upload",
    ("delete", "dashboard/uploads/{id}"): "Delete an upload and the metrics it imported",
    ("get", "dashboard/alerts"): "List the caller's alert rules",
    ("post", "dashboard/alerts"): "Create an alert rule (the webhook secret is shown once)",
    ("get", "dashboard/alerts/{id}"): "One alert rule",
    ("patch", "dashboard/alerts/{id}"): "Change an alert rule",
    ("delete", "dashboard/alerts/{id}"): "Delete an alert rule",
    ("get", "dashboard/alerts/{id}/events"): "An alert rule's events and deliveries",
    ("post", "dashboard/alerts/{id}/rotate-secret"): "Replace an alert rule's webhook secret",
    ("post", "dashboard/alerts/{id}/test"): "Send a test notification",
    ("get", "dashboard/boards"): "List the boards the caller owns or that are shared with its roles",
    ("post", "dashboard/boards"): "Create a board",
    ("get", "dashboard/boards/{id}"): "One board",
    ("put", "dashboard/boards/{id}"): "Replace one of the caller's boards",
    ("patch", "dashboard/boards/{id}"): "Change one of the caller's boards",
    ("delete", "dashboard/boards/{id}"): "Delete one of the caller's boards",
    ("get", "dashboard/boards/{id}/data"): "Every panel's data, in one call",
    ("get", "dashboard/boards/{id}/export"): "A board as JSON, KPIs by slug",
    ("post", "dashboard/boards/import"): "Create a board from an export",
}

# Operations whose behaviour the schema alone does not tell (the guide, /api/guide/, says more).
DESCRIPTIONS = {
    ("get", "dashboard/boards/{id}/data"): (
        "Per panel, what its endpoint gives the caller (its own visibility): a `kpi` panel has `summary` (its row of "
        "`summary`) and `series` (`kpis/{id}/series` over the panel's range), a `series` panel `series` "
        "(`metrics/series`), a `summary` panel `summary` (every row). Relative ranges are resolved in `tz` now."
    ),
    ("post", "dashboard/boards/import"): (
        "The JSON of `boards/{id}/export`; a new board of the caller's. KPIs are matched by slug: unknown ones are a "
        "400 naming them in `errors.panels`."
    ),
    ("get", "dashboard/summary"): (
        "Per KPI: the current period (containing now in `tz`), the previous one, and the previous one *to date*, cut "
        "as far into it as now is into the current one, so a period that has just begun is not read as a collapse. "
        "Show `change_to_date_pct` while the period runs and `change_pct` once it has ended. `status` compares the "
        "value so far with the target."
    ),
    ("post", "dashboard/upload"): (
        "Multipart form: `file` (CSV with columns name, value, timestamp) and optional `tz` for naive timestamps. "
        "201 when imported inline, 202 when queued (poll `uploads/{id}`). All or nothing: a bad row is a 400 "
        "`invalid_rows` listing the rows. The same file again is a 409 `duplicate_upload` unless "
        "`allow_duplicate=true`. Send `Idempotency-Key` to retry safely."
    ),
    ("post", "dashboard/metrics"): (
        "One metric object, or a list of up to 10,000 written all or nothing (errors keyed by list index). "
        "`timestamp` defaults to now. Send `Idempotency-Key` to retry safely."
    ),
    ("get", "dashboard/metrics/series"): (
        "The visible values of metric `name` aggregated (`agg`: sum, avg, min, max, count, last; default sum) per "
        "wall-clock `bucket` in `tz` (weeks from Monday). Each point's `t` is its bucket's start with `tz`'s offset; "
        "only buckets that hold data are returned. `from` is inclusive, `to` exclusive; naive values are read in "
        "`tz`. More than `SERIES_MAX_POINTS` buckets is a 400 `too_many_points` naming the finest bucket that fits."
    ),
    ("get", "dashboard/kpis/{id}/series"): (
        "The KPI's aggregation per period with its target, one point per period that holds data; by default the "
        "last 12 periods, the current one (so far) included."
    ),
    ("post", "auth/refresh"): (
        "Returns a new access and refresh token; the refresh token sent is dead from now on. Presenting a rotated "
        "token again revokes every refresh token of the user."
    ),
    ("post", "auth/logout"): "The refresh token never works again; the access token lives out its short lifetime.",
}

# Request fields that set a new password: they state the policy the server enforces.
_NEW_PASSWORD_FIELDS = {
    "RegisterInputRequest": "password",
    "AdminUserInputRequest": "password",
    "PatchedAdminUserInputRequest": "password",
    "PasswordChangeInputRequest": "new_password",
    "PasswordResetConfirmInputRequest": "new_password",
}


def _api_path(path: str) -> str:
    return path.removeprefix("/api/v1/").rstrip("/")


def _tag(api_path: str) -> str:
    return next((tag for prefix, tag in _TAG_BY_PREFIX if api_path.startswith(prefix)), "system")


def _fallback_summary(method: str, api_path: str) -> str:
    """``GET dashboard/boards/{id}/data`` → ``Get boards data``: for operations added without a summary."""
    words = [part for part in api_path.split("/") if part and not part.startswith("{") and part != "dashboard"]
    verb = {"get": "Get", "post": "Create" if not api_path.endswith("}") else "Post to", "patch": "Change"}.get(
        method, method.capitalize()
    )
    if method == "get" and not api_path.endswith("}") and len(words) == 1:
        verb = "List"
    return f"{verb} {' '.join(words).replace('-', ' ')}".strip()


def password_policy() -> str:
    """The password validators' own words, as the server applies them."""
    from django.contrib.auth.password_validation import password_validators_help_texts

    return " ".join(password_validators_help_texts())


def describe_operations(
    result: dict[str, Any], generator: SchemaGenerator, request: Request | None, public: bool
) -> dict[str, Any]:
    """Tag every operation by its path, give each a one-line summary, and state the password policy."""
    from django.conf import settings

    result["tags"] = TAGS
    for path, operations in result.get("paths", {}).items():
        api_path = _api_path(path)
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["tags"] = [_tag(api_path)]
            operation["summary"] = SUMMARIES.get((method, api_path)) or _fallback_summary(method, api_path)
            if (method, api_path) in DESCRIPTIONS and not operation.get("description"):
                operation["description"] = DESCRIPTIONS[(method, api_path)]
    schemas = result.get("components", {}).get("schemas", {})
    for component, field in _NEW_PASSWORD_FIELDS.items():
        prop = schemas.get(component, {}).get("properties", {}).get(field)
        if prop is not None:
            prop["description"] = f"The new password. {password_policy()}"
            prop["minLength"] = settings.PASSWORD_MIN_LENGTH
    return result
