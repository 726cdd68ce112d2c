"""The core app: the API plumbing every app uses; its config applies API-wide rules once at start-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from rest_framework.fields import CharField


def _strict_char_to_internal_value(field: CharField, data: object) -> str:
    """DRF's CharField takes numbers and stores their text (``"full_name": 0`` became "0"); the schema says string."""
    if not isinstance(data, str):
        field.fail("invalid")
    assert _drf_char_to_internal_value is not None  # set by ready() before this replaces it
    return _drf_char_to_internal_value(field, data)


_drf_char_to_internal_value: Callable[[CharField, str], str] | None = None


class CoreConfig(AppConfig):
    name = "core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        global _drf_char_to_internal_value
        from rest_framework import fields

        # Every text field of every serializer (CharField and its subclasses: email, slug, URL, regex...) takes
        # only JSON strings; form and query values are strings anyway.
        if _drf_char_to_internal_value is None:
            _drf_char_to_internal_value = fields.CharField.to_internal_value
            fields.CharField.to_internal_value = _strict_char_to_internal_value  # type: ignore[method-assign, assignment]  # the API-wide patch this app applies
