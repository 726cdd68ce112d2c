"""Shapes of dashboard data in the API, and the validation of query parameters."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import FastOutputMixin
from dashboard import query
from dashboard.models import KPI, Aggregation, Metric, Upload
from dashboard.timeseries import BUCKETS

METRICS_CREATE_MAX = 10_000
ORDERINGS = ("timestamp", "-timestamp", "value", "-value", "name")


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
    """An IANA time zone name, as :func:`dashboard.query.time_zone` reads it."""

    def to_internal_value(self, data) -> ZoneInfo:
        try:
            return query.time_zone(super().to_internal_value(data))
        except ValueError as error:
            raise serializers.ValidationError(str(error), code="unknown") from None

    def to_representation(self, value) -> str:
        return str(value)


@extend_schema_field(OpenApiTypes.DATETIME)
class LocalDateTimeField(serializers.Field):
    """An ISO 8601 datetime or date (a date alone means midnight); naive values stay naive until placed in ``tz``."""

    def to_internal_value(self, data) -> datetime:
        try:
            return query.local_datetime(data)
        except ValueError as error:
            raise serializers.ValidationError(str(error), code="invalid") from None


class RangeQuerySerializer(serializers.Serializer):
    """``from`` (inclusive), ``to`` (exclusive) and ``tz``, placed by :func:`dashboard.query.time_range`:
    ``validated_data`` holds ``start``, ``end`` (UTC) and ``tz``."""

    to = LocalDateTimeField(required=False, help_text="Exclusive; a naive value is read in tz.")
    tz = TimeZoneField(required=False, help_text="IANA time zone name; default TIME_ZONE.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = LocalDateTimeField(required=False, help_text="Inclusive; a naive value is read in tz.")
        return fields

    def validate(self, attrs: dict) -> dict:
        try:
            bounds = query.time_range(start=attrs.pop("from", None), end=attrs.pop("to", None), tz=attrs.get("tz"))
        except query.QueryError as error:
            raise serializers.ValidationError(error.errors) from None
        return {**attrs, "start": bounds.start, "end": bounds.end, "tz": bounds.tz}


class MetricQuerySerializer(RangeQuerySerializer):
    name = serializers.CharField(required=False, max_length=255)
    name__in = serializers.CharField(required=False, help_text="Comma-separated names.")
    owner = serializers.IntegerField(required=False, min_value=1, help_text="A user id; narrows within what you see.")
    ordering = serializers.ChoiceField(choices=ORDERINGS, required=False)

    def validate_name__in(self, value: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in value.split(",") if part.strip())
        if not names:
            raise serializers.ValidationError("Give at least one name.")
        return names


class SeriesQuerySerializer(RangeQuerySerializer):
    name = serializers.CharField(max_length=255)
    bucket = serializers.ChoiceField(choices=BUCKETS)
    agg = serializers.ChoiceField(choices=Aggregation.values, required=False, default="sum")


class MetricSerializer(FastOutputMixin, serializers.ModelSerializer):
    class Meta:
        model = Metric
        fields = ["id", "name", "value", "timestamp", "owner", "upload"]
        read_only_fields = fields


class MetricInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, trim_whitespace=True)
    value = FiniteFloatField()
    timestamp = serializers.DateTimeField(required=False)


class MetricNameSerializer(serializers.Serializer):
    name = serializers.CharField()
    count = serializers.IntegerField()
    first = serializers.DateTimeField()
    last = serializers.DateTimeField()


class PointSerializer(serializers.Serializer):
    t = serializers.SerializerMethodField()
    value = serializers.FloatField()
    count = serializers.IntegerField()

    def get_t(self, point) -> str:
        return point.t.isoformat()


class SeriesSerializer(serializers.Serializer):
    name = serializers.CharField()
    bucket = serializers.CharField()
    agg = serializers.CharField()
    tz = serializers.CharField()
    points = PointSerializer(many=True)


class KPISerializer(serializers.ModelSerializer):
    target = FiniteFloatField(allow_null=True, required=False)
    warning_threshold_pct = FiniteFloatField(min_value=0, required=False)
    name = serializers.CharField(max_length=255, trim_whitespace=True)
    metric_name = serializers.CharField(max_length=255, trim_whitespace=True)

    class Meta:
        model = KPI
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "metric_name",
            "aggregation",
            "period",
            "target",
            "direction",
            "warning_threshold_pct",
            "unit",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "slug", "created_by", "created_at"]


class KPIBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = KPI
        fields = ["id", "name", "unit", "direction", "target"]
        read_only_fields = fields


class KPIPointSerializer(serializers.Serializer):
    t = serializers.CharField()
    value = serializers.FloatField()
    target = serializers.FloatField(allow_null=True)


class KPISeriesSerializer(serializers.Serializer):
    kpi = KPIBriefSerializer()
    points = KPIPointSerializer(many=True)


@extend_schema_field(OpenApiTypes.DATETIME)
class WallClockField(serializers.ReadOnlyField):
    """An aware datetime as ISO 8601 with its own offset (a bucket's start in the caller's ``tz``), not UTC."""

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class PeriodValueSerializer(serializers.Serializer):
    period_start = WallClockField()
    value = serializers.FloatField(allow_null=True)


class PeriodToDateSerializer(PeriodValueSerializer):
    end = WallClockField(help_text="Where the previous period is cut: as far into it as now is into the current one.")


class KPISummarySerializer(serializers.Serializer):
    """Serializes :class:`dashboard.selectors.KPIStatus` as it is."""

    kpi = KPIBriefSerializer()
    current = PeriodValueSerializer()
    previous = PeriodValueSerializer()
    previous_to_date = PeriodToDateSerializer()
    change_pct = serializers.FloatField(allow_null=True)
    change_to_date_pct = serializers.FloatField(allow_null=True)
    progress_pct = serializers.FloatField(allow_null=True)
    status = serializers.ChoiceField(choices=KPI.Status.choices)


class UploadInputSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    tz = TimeZoneField(required=False)


class UploadQuerySerializer(serializers.Serializer):
    allow_duplicate = serializers.BooleanField(
        required=False, default=False, help_text="Import even if you already have this same file (same sha256)."
    )


class UploadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Upload
        fields = [
            "id",
            "filename",
            "size",
            "sha256",
            "status",
            "rows_total",
            "rows_imported",
            "errors",
            "error_count",
            "created_by",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


# The bodies of metrics/series, kpis/{id}/series and summary, shared with boards/{id}/data (which must give the same).


def series_body(*, name: str, bucket: str, agg: str, tz: ZoneInfo, points) -> dict:
    """``metrics/series``, built directly rather than through :class:`SeriesSerializer` (which documents it): a year
    of hourly points is thousands of rows, and field-by-field serialisation would cost more than the query."""
    return {
        "name": name,
        "bucket": bucket,
        "agg": agg,
        "tz": str(tz),
        "points": [{"t": p.t.isoformat(), "value": p.value, "count": p.count} for p in points],
    }


def kpi_series_body(*, kpi: KPI, points) -> dict:
    body = {"kpi": kpi, "points": [{"t": p.t.isoformat(), "value": p.value, "target": kpi.target} for p in points]}
    return KPISeriesSerializer(body).data


def summary_item(row) -> dict:
    """One ``summary`` row (a :class:`dashboard.selectors.KPIStatus`) as the API gives it."""
    return KPISummarySerializer(row).data
