"""Validation of request data through a serializer, the one way every API view does it."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


def validated_data(serializer_class: type[serializers.Serializer[Any]], data: object) -> dict[str, Any]:
    """*data* (a body or query parameters) validated by *serializer_class*; a ValidationError (400) otherwise."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    result: dict[str, Any] = serializer.validated_data
    return result
