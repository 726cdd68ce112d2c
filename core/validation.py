"""Validation of request data through a serializer, the one way every API view does it."""

from __future__ import annotations

from rest_framework import serializers


def validated_data(serializer_class: type[serializers.Serializer], data) -> dict:
    """*data* (a body or query parameters) validated by *serializer_class*; a ValidationError (400) otherwise."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
