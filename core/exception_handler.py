"""The API's error envelope: one DRF exception handler and the helpers middleware shares with it."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DjangoInterfaceError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from kombu.exceptions import OperationalError as BrokerUnavailable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError, RateLimited

logger = logging.getLogger("dashboard.errors")
audit = logging.getLogger("dashboard.audit")

SERVER_ERROR_BODY = {"detail": "Internal server error.", "code": "server_error"}

# Seconds a client is asked to wait (Retry-After) when a backing service is unreachable: about one restart.
SERVICE_UNAVAILABLE_RETRY_AFTER = 5
SERVICE_UNAVAILABLE_DETAIL = "A backing service is unavailable; retry later."

# SQLSTATEs that mean "the server is not there right now", not "this query is wrong": connection exceptions (class 08),
# admin/crash shutdown, "the database system is starting up", too many connections.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})

# 401 codes the contract knows; every other authentication failure is a bad token.
_AUTH_CODES = {"not_authenticated", "invalid_credentials", "token_not_valid"}


# The HTTP status of each code a domain error (core.errors.DomainError) or a failed outcome carries: the one place
# where the services' vocabulary meets HTTP.
STATUS_BY_CODE = {
    "invalid": status.HTTP_400_BAD_REQUEST,
    "invalid_file": status.HTTP_400_BAD_REQUEST,
    "invalid_rows": status.HTTP_400_BAD_REQUEST,
    "invalid_credentials": status.HTTP_401_UNAUTHORIZED,
    "token_not_valid": status.HTTP_401_UNAUTHORIZED,
    "registration_closed": status.HTTP_403_FORBIDDEN,
    "conflict": status.HTTP_409_CONFLICT,
    "duplicate_upload": status.HTTP_409_CONFLICT,
    "user_owns_data": status.HTTP_409_CONFLICT,
    "idempotency_in_progress": status.HTTP_409_CONFLICT,
    "payload_too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "unsupported_media_type": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "idempotency_key_reused": status.HTTP_422_UNPROCESSABLE_ENTITY,
    "throttled": status.HTTP_429_TOO_MANY_REQUESTS,
    "too_many_points": status.HTTP_400_BAD_REQUEST,
}


class ApiError(exceptions.APIException):
    """An error answered in the envelope with the status :data:`STATUS_BY_CODE` gives *code*, plus *extra* keys."""

    # Set on a 401, as DRF's APIView does for its own authentication errors; DRF sends it as WWW-Authenticate.
    auth_header: str

    def __init__(self, code: str, detail: str, **extra: object) -> None:
        self.status_code = STATUS_BY_CODE[code]
        super().__init__(detail=detail, code=code)
        self.extra = extra

    @classmethod
    def from_domain(cls, error: DomainError, **extra: object) -> ApiError:
        return cls(error.code, error.message, **extra)


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = SERVICE_UNAVAILABLE_DETAIL
    default_code = "service_unavailable"
    wait = SERVICE_UNAVAILABLE_RETRY_AFTER  # DRF's handler turns ``wait`` into Retry-After


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__


def unavailable_service(exc: BaseException) -> str | None:
    """Which backing service *exc* says is unreachable ("database", "cache", "broker"), or None when it is another
    error (a bad query, a statement timeout, a deadlock stay what they are). Looks through wrapped causes, so both
    Django's database errors and raw psycopg ones (the upload's COPY) are recognised."""
    for error in _causes(exc):
        if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
            state = getattr(error, "sqlstate", None)
            # No SQLSTATE: the client lost or could not open the connection (refused, closed, reset).
            if state is None or state.startswith("08") or state in _UNAVAILABLE_SQLSTATES:
                return "database"
            return None
        if isinstance(error, psycopg.Error):
            return None
        if isinstance(error, sqlite3.OperationalError):
            return "database" if "database is locked" in str(error) else None
        if isinstance(error, (RedisConnectionError, RedisTimeoutError)):
            return "cache"
        if isinstance(error, BrokerUnavailable):
            return "broker"
    # Django's own "connection already closed" carries no driver error.
    return "database" if isinstance(exc, DjangoInterfaceError) else None


def _note_unavailable(request: HttpRequest, service: str, exc: BaseException) -> None:
    """Record on the request why it got a 503; the request log line says it (one line, no traceback)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    note = f"{service}: {type(exc).__name__}: {message[:200]}".rstrip(": ")
    request.service_unavailable = note  # type: ignore[attr-defined]  # a note of ours on the request, read back by core.middleware


def service_unavailable_response(request: HttpRequest, service: str, exc: BaseException) -> HttpResponse:
    """The 503 for code paths outside DRF: the envelope under /api/, plain text elsewhere (the admin)."""
    _note_unavailable(request, service, exc)
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = error_response(503, SERVICE_UNAVAILABLE_DETAIL, "service_unavailable")
    else:
        response = HttpResponse(
            "Service temporarily unavailable; retry later.\n", status=503, content_type="text/plain; charset=utf-8"
        )
    response["Retry-After"] = str(SERVICE_UNAVAILABLE_RETRY_AFTER)
    _mark_logged(response)  # the request log says it; no traceback from django.request
    return response


def _mark_logged(response: HttpResponseBase) -> None:
    """Tell django.request (``django.utils.log.log_response``) that *response* is logged already: it logs nothing."""
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django's private flag, not in django-stubs


def error_response(status_code: int, detail: str, code: str, **extra: object) -> JsonResponse:
    """A plain Django JSON response in the envelope, for code paths outside DRF."""
    return JsonResponse({"detail": detail, "code": code, **extra}, status=status_code)


def _log_exception(request: HttpRequest, exc: BaseException) -> None:
    logger.error("Unhandled %s on %s %s", type(exc).__name__, request.method, request.path, exc_info=exc)


def log_unhandled(request: HttpRequest, exc: BaseException) -> JsonResponse:
    """Log *exc* with its traceback (the request id comes from the log filter) and return the generic 500."""
    _log_exception(request, exc)
    response = JsonResponse(SERVER_ERROR_BODY, status=500)
    # Already logged with the traceback; stop django.request from logging it a second time.
    _mark_logged(response)
    return response


def _index_list_errors(errors: list[object]) -> dict[str, object]:
    """Errors of a list body, keyed by the index of each failing item."""
    return {str(index): item for index, item in enumerate(errors) if item}


def _validation_payload(detail: object) -> tuple[str, Mapping[str, object] | Mapping[int, object]]:
    if isinstance(detail, dict):
        return "Invalid input.", detail
    if isinstance(detail, list) and detail and all(isinstance(item, dict) for item in detail):
        return "Invalid input.", _index_list_errors(detail)
    messages = [str(message) for message in detail] if isinstance(detail, list) else [str(detail)]
    return (messages[0] if len(messages) == 1 else "Invalid input."), {"non_field_errors": messages}


def _from_domain(error: DomainError, context: dict[str, Any]) -> exceptions.APIException:
    """The DRF exception that answers *error* with the status :data:`STATUS_BY_CODE` gives its code."""
    if isinstance(error, RateLimited):
        # DRF's own wording of the wait ("Expected available in 3 seconds.") and its Retry-After header.
        throttled = exceptions.Throttled(wait=error.wait, detail=error.message, code=error.code)
        throttled.status_code = STATUS_BY_CODE[error.code]
        return throttled
    converted = ApiError.from_domain(error, **getattr(error, "extra", {}))
    if converted.status_code == status.HTTP_401_UNAUTHORIZED:
        # What DRF's APIView.handle_exception does for its own AuthenticationFailed before calling this handler: a 401
        # names the view's scheme (WWW-Authenticate); a view without one answers 403.
        view, request = context.get("view"), context.get("request")
        header = view.get_authenticate_header(request) if view is not None and request is not None else None
        if header:
            converted.auth_header = header
        else:
            converted.status_code = status.HTTP_403_FORBIDDEN
    return converted


def _convert(exc: Exception, context: dict[str, Any]) -> Exception:
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, RequestDataTooBig):
        return ApiError("payload_too_large", "Request body too large.")
    if isinstance(exc, DomainError):
        return _from_domain(exc, context)
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    return exc


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Turn any exception raised in a DRF view into the contract's envelope; unknown ones become a logged 500."""
    service = unavailable_service(exc)
    if service is not None:
        request = context["request"]
        _note_unavailable(getattr(request, "_request", request), service, exc)
        exc = ServiceUnavailable()
    exc = _convert(exc, context)
    if not isinstance(exc, exceptions.APIException):
        request = context["request"]
        _log_exception(getattr(request, "_request", request), exc)
        response = Response(SERVER_ERROR_BODY, status=500)
        _mark_logged(response)
        return response

    handled = drf_exception_handler(exc, context)
    assert handled is not None  # DRF answers every APIException
    response = handled
    if isinstance(exc, exceptions.ValidationError):
        detail, errors = _validation_payload(exc.detail)
        response.data = {"detail": detail, "code": "invalid", "errors": errors}
        return response

    if response.status_code == status.HTTP_403_FORBIDDEN:
        request = context.get("request")
        user = getattr(request, "user", None)
        audit.warning(
            "authorization denied",
            extra={
                "event": "authorization_denied",
                "user_id": user.pk if user is not None and user.is_authenticated else None,
                "method": getattr(request, "method", None),
                "path": getattr(request, "path", None),
                "reason": str(exc.detail),
            },
        )

    code = exc.get_codes() if isinstance(exc.detail, str) else exc.default_code
    if not isinstance(code, str):
        code = exc.default_code
    if response.status_code == status.HTTP_401_UNAUTHORIZED and code not in _AUTH_CODES:
        code = "token_not_valid"
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
    payload: dict[str, object] = {"detail": str(detail), "code": code}
    payload.update(getattr(exc, "extra", {}) or {})
    if code == "permission_denied":
        # What the caller lacks: permissions (``app.codename``), or nothing a permission grants (an ownership or
        # no-escalation rule, an API key on a login-only route), which the detail explains.
        payload.setdefault("missing", [])
    response.data = payload
    if isinstance(exc, ServiceUnavailable):
        _mark_logged(response)
    return response
