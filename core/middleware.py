"""Project middleware: request ids and the request log, extra security headers, JSON errors under /api/."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from config.logging import request_id_var
from core.db_routers import pin_to_primary, replica_allowed, replica_configured
from core.exception_handler import error_response, log_unhandled, service_unavailable_response, unavailable_service

request_logger = logging.getLogger("dashboard.request")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_GetResponse = Callable[[HttpRequest], HttpResponseBase]


class RequestIdMiddleware:
    """Take X-Request-ID from the request (or make one), echo it, and log one line per request."""

    def __init__(self, get_response: _GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]  # an attribute of our own on Django's request
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            duration_ms = (time.perf_counter() - started) * 1000
            user_id = _user_id(request)
            fields = {
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(duration_ms, 1),
                "user_id": user_id,
            }
            line = "%s %s %s %.1fms user=%s"
            args = [request.method, request.path, response.status_code, duration_ms, user_id or "-"]
            unavailable = getattr(request, "service_unavailable", None)
            if unavailable:
                # A backing service is down: this line is the only record of it (no traceback per request).
                request_logger.warning(
                    line + " unavailable=%s", *args, unavailable, extra={**fields, "unavailable": unavailable}
                )
            else:
                request_logger.info(line, *args, extra=fields)
            return response
        finally:
            request_id_var.reset(token)


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    try:
        return user.pk if user is not None and user.is_authenticated else None
    except DatabaseError:  # a lazy user whose session the database could not load: log it as anonymous
        return None


class ReadYourWritesMiddleware:
    """Lets the request's read-only dashboard selectors use the read replica; after a write request by a signed-in
    user (any method but GET, HEAD, OPTIONS), pins that user's reads to the primary for a few seconds."""

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

    def __init__(self, get_response: _GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with replica_allowed():
            response = self.get_response(request)
        if request.method not in self.SAFE_METHODS and replica_configured():
            user = getattr(request, "user", None)  # DRF's authenticated user, set on the request by the view
            if user is not None and user.is_authenticated:
                pin_to_primary(user.pk)
        return response


class SecurityHeadersMiddleware:
    """Headers Django does not set itself (the seed's X-XSS-Protection) on every response."""

    def __init__(self, get_response: _GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("X-XSS-Protection", "1; mode=block")
        return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _body_limit(path: str) -> int:
    limits: dict[str, int] = settings.API_BODY_LIMITS
    for pattern, limit in limits.items():
        if re.match(pattern, path):
            return limit
    default: int = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return default


_STATUS_ERRORS = {
    400: ("Bad request.", "invalid"),
    401: ("Authentication credentials were not provided.", "not_authenticated"),
    403: ("You do not have permission to perform this action.", "permission_denied"),
    404: ("Not found.", "not_found"),
    405: ("Method not allowed.", "method_not_allowed"),
    413: ("Request body too large.", "payload_too_large"),
}


class ApiErrorMiddleware:
    """Under /api/: refuse oversized bodies with 413, and turn any non-JSON error page into the envelope. On every
    path, a view that finds the database (or another backing service) unreachable answers 503 with Retry-After."""

    def __init__(self, get_response: _GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not _is_api(request):
            return self.get_response(request)
        try:
            content_length = int(request.headers.get("content-length") or 0)
        except ValueError:
            return error_response(400, "Invalid Content-Length header.", "invalid")
        if content_length > _body_limit(request.path):
            return error_response(413, _STATUS_ERRORS[413][0], "payload_too_large")
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            detail, code = _STATUS_ERRORS.get(response.status_code, ("Internal server error.", "server_error"))
            replacement = error_response(response.status_code, detail, code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        service = unavailable_service(exception)
        if service is not None:
            return service_unavailable_response(request, service, exception)
        if not _is_api(request):
            return None
        return log_unhandled(request, exception)
