"""System endpoints: liveness and readiness probes, the favicon, the API's index and its guide."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, overload

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static
from django.views import defaults
from django.views.decorators.http import require_safe
from django.views.generic import RedirectView
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exception_handler import service_unavailable_response, unavailable_service

API_GUIDE = settings.BASE_DIR / "docs" / "api.md"


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches no database."""
    return JsonResponse({"status": "ok"})


def _unapplied_migrations(alias: str = "default") -> int:
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers and every migration is applied; 503 names the failed check."""
    checks: dict[str, str] = {}
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
        return JsonResponse({"status": "unavailable", "failed": "database", "checks": checks}, status=503)
    try:
        pending = _unapplied_migrations()
    except DatabaseError as exc:
        checks["migrations"] = f"unknown: {type(exc).__name__}"
        return JsonResponse({"status": "unavailable", "failed": "migrations", "checks": checks}, status=503)
    if pending:
        checks["migrations"] = f"{pending} unapplied"
        return JsonResponse({"status": "unavailable", "failed": "migrations", "checks": checks}, status=503)
    checks["migrations"] = "ok"
    return JsonResponse({"status": "ok", "checks": checks})


class FaviconView(RedirectView):
    permanent = True

    def get_redirect_url(self, *args: Any, **kwargs: Any) -> str:
        return static("favicon.svg")


@require_safe
def api_guide(request: HttpRequest) -> HttpResponse:
    """``docs/api.md``, the guide for app developers, as plain text (readable in a browser, no Markdown renderer)."""
    return HttpResponse(API_GUIDE.read_text(encoding="utf-8"), content_type="text/plain; charset=utf-8")


# (name, path under /api/v1/): where an app starts. Public like auth/*: it names paths, never data.
API_INDEX: dict[str, str | dict[str, str]] = {
    "auth": {name: f"auth/{name}" for name in ("register", "login", "refresh", "logout", "password-reset")},
    "me": "users/me",
    "dashboard": {name: f"dashboard/{name}" for name in ("metrics", "kpis", "summary", "upload", "uploads", "alerts")},
    "admin": {name: f"admin/{name}" for name in ("users", "roles", "permissions", "api-keys")},
}


@overload
def _links(tree: str, absolute: Callable[[str], str]) -> str: ...
@overload
def _links(tree: dict[str, Any], absolute: Callable[[str], str]) -> dict[str, Any]: ...
def _links(tree: str | dict[str, Any], absolute: Callable[[str], str]) -> str | dict[str, Any]:
    if isinstance(tree, dict):
        return {key: _links(value, absolute) for key, value in tree.items()}
    return absolute(f"/api/v1/{tree}")


class ApiIndexView(APIView):
    """``GET /api/v1/``: the project's name and version and where the docs and the main resources are."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "ApiIndex",
            {
                "name": serializers.CharField(),
                "version": serializers.CharField(),
                "guide": serializers.URLField(),
                "docs": serializers.URLField(),
                "schema": serializers.URLField(),
                "auth": serializers.DictField(child=serializers.URLField()),
                "me": serializers.URLField(),
                "dashboard": serializers.DictField(child=serializers.URLField()),
                "admin": serializers.DictField(child=serializers.URLField()),
            },
        )
    )
    def get(self, request: Request) -> Response:
        absolute = request.build_absolute_uri
        return Response(
            {
                "name": f"{settings.PROJECT_NAME} API",
                "version": settings.VERSION,
                "guide": absolute("/api/guide/"),
                "docs": absolute("/api/docs/"),
                "schema": absolute("/api/schema/"),
                **_links(API_INDEX, absolute),
            }
        )


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an exception outside any view (a middleware reading the session) that says the database is
    unreachable is a 503 with Retry-After, logged as one line; anything else is Django's own 500."""
    exception = sys.exc_info()[1]
    service = unavailable_service(exception) if exception is not None else None
    if service is not None:
        assert exception is not None  # a service is only named for an exception
        return service_unavailable_response(request, service, exception)
    return defaults.server_error(request)
