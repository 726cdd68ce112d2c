"""The core app: the API plumbing every app uses; its config applies API-wide rules once at start-up."""

from __future__ import annotations

from django.apps import AppConfig


def _strict_char_to_internal_value(field, data):
    """DRF's CharField takes numbers and stores their text (``"full_name": 0`` became "0"); the schema says string."""
    if not isinstance(data, str):
        field.fail("invalid")
    return _drf_char_to_internal_value(field, data)


_drf_char_to_internal_value = None


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
            fields.CharField.to_internal_value = _strict_char_to_internal_value
