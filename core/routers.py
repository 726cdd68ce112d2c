"""URL helpers so every API path answers with and without a trailing slash, never redirecting."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpResponseBase
from django.urls import URLPattern, re_path
from rest_framework.routers import SimpleRouter


class ApiRouter(SimpleRouter):
    """A SimpleRouter whose routes end in an optional slash.

    ``SimpleRouter(trailing_slash="/?")`` falls back to "/" for any value but False, so the attribute is set after
    construction.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


def api_path(route: str, view: Callable[..., HttpResponseBase], name: str) -> URLPattern:
    """``re_path`` for a plain view at *route* (no leading or trailing slash), with the slash optional."""
    return re_path(rf"^{route}/?$", view, name=name)
