"""What the dashboard's APIs share: fields for finite floats, time zones and local datetimes, the ``from``/``to``/``tz``
range every read takes, and validated query parameters."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from core.request_data import plain_data
from core.validation import validated_data
from dashboard import time_input


class FiniteFloatField(serializers.FloatField):
    """A float that is neither NaN nor infinite; booleans are not numbers here."""

    default_error_messages = {"not_finite": "A finite number is required (NaN and Infinity are not allowed)."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_finite")
        return value


class TimeZoneField(serializers.CharField):
    """An IANA time zone name, as :func:`dashboard.time_input.time_zone` reads it."""

    def to_internal_value(self, data) -> ZoneInfo:  # type: ignore[override]  # a CharField whose text becomes a ZoneInfo
        try:
            return time_input.time_zone(super().to_internal_value(data))
        except ValueError as error:
            raise serializers.ValidationError(str(error), code="unknown") from None

    def to_representation(self, value) -> str:
        return str(value)


@extend_schema_field(OpenApiTypes.DATETIME)
class LocalDateTimeField(serializers.Field):
    """An ISO 8601 datetime or date (a date alone means midnight); naive values stay naive until placed in ``tz``."""

    def to_internal_value(self, data) -> datetime:
        try:
            return time_input.local_datetime(data)
        except ValueError as error:
            raise serializers.ValidationError(str(error), code="invalid") from None


class RangeQuerySerializer(serializers.Serializer):
    """``from`` (inclusive), ``to`` (exclusive) and ``tz``, placed by :func:`dashboard.time_input.time_range`:
    ``validated_data`` holds ``start``, ``end`` (UTC) and ``tz``."""

    to = LocalDateTimeField(required=False, help_text="Exclusive; a naive value is read in tz.")
    tz = TimeZoneField(required=False, help_text="IANA time zone name; default TIME_ZONE.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = LocalDateTimeField(required=False, help_text="Inclusive; a naive value is read in tz.")
        return fields

    def validate(self, attrs: dict) -> dict:
        try:
            bounds = time_input.time_range(start=attrs.pop("from", None), end=attrs.pop("to", None), tz=attrs.get("tz"))
        except time_input.QueryError as error:
            raise serializers.ValidationError(error.errors) from None
        return {**attrs, "start": bounds.start, "end": bounds.end, "tz": bounds.tz}


def query_params(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """The request's query parameters validated by *serializer_class* (a 400 naming the bad ones)."""
    return validated_data(serializer_class, plain_data(request.query_params))
