"""The API's error envelope: one DRF exception handler and the helpers middleware shares with it."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("dashboard.errors")
audit = logging.getLogger("dashboard.audit")

SERVER_ERROR_BODY = {"detail": "Internal server error.", "code": "server_error"}

# 401 codes the contract knows; every other authentication failure is a bad token.
_AUTH_CODES = {"not_authenticated", "invalid_credentials", "token_not_valid"}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def error_response(status_code: int, detail: str, code: str, **extra) -> JsonResponse:
    """A plain Django JSON response in the envelope, for code paths outside DRF."""
    return JsonResponse({"detail": detail, "code": code, **extra}, status=status_code)


def _log_exception(request: HttpRequest, exc: BaseException) -> None:
    logger.error("Unhandled %s on %s %s", type(exc).__name__, request.method, request.path, exc_info=exc)


def log_unhandled(request: HttpRequest, exc: BaseException) -> JsonResponse:
    """Log *exc* with its traceback (the request id comes from the log filter) and return the generic 500."""
    _log_exception(request, exc)
    response = JsonResponse(SERVER_ERROR_BODY, status=500)
    # Already logged with the traceback; stop django.request from logging it a second time.
    response._has_been_logged = True
    return response


def _index_list_errors(errors: list) -> dict:
    """Errors of a list body, keyed by the index of each failing item."""
    return {str(index): item for index, item in enumerate(errors) if item}


def _validation_payload(detail) -> tuple[str, dict]:
    if isinstance(detail, dict):
        return "Invalid input.", detail
    if isinstance(detail, list) and detail and all(isinstance(item, dict) for item in detail):
        return "Invalid input.", _index_list_errors(detail)
    messages = [str(message) for message in detail] if isinstance(detail, list) else [str(detail)]
    return (messages[0] if len(messages) == 1 else "Invalid input."), {"non_field_errors": messages}


def _convert(exc: Exception) -> Exception:
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    return exc


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """Turn any exception raised in a DRF view into the contract's envelope; unknown ones become a logged 500."""
    exc = _convert(exc)
    if not isinstance(exc, exceptions.APIException):
        request = context["request"]
        _log_exception(getattr(request, "_request", request), exc)
        response = Response(SERVER_ERROR_BODY, status=500)
        response._has_been_logged = True
        return response

    response = drf_exception_handler(exc, context)
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
    payload = {"detail": str(detail), "code": code}
    payload.update(getattr(exc, "extra", {}) or {})
    if code == "permission_denied":
        # What the caller lacks: permissions (``app.codename``), or nothing a permission grants (an ownership or
        # no-escalation rule, an API key on a login-only route), which the detail explains.
        payload.setdefault("missing", [])
    response.data = payload
    return response
