"""System endpoints: liveness and readiness probes, the favicon."""

from __future__ import annotations

import sys

from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static
from django.views import defaults
from django.views.decorators.http import require_safe
from django.views.generic import RedirectView

from config.exceptions import service_unavailable_response, unavailable_service


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

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("favicon.svg")


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an exception outside any view (a middleware reading the session) that says the database is
    unreachable is a 503 with Retry-After, logged as one line; anything else is Django's own 500."""
    exception = sys.exc_info()[1]
    service = unavailable_service(exception) if exception is not None else None
    if service is not None:
        return service_unavailable_response(request, service, exception)
    return defaults.server_error(request)
