"""Shapes of dashboard data in the API, and the validation of query parameters."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.serializers import FastOutputMixin
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
    default_error_messages = {"unknown": "Unknown time zone {value!r}; use an IANA name such as Europe/Berlin."}

    def to_internal_value(self, data) -> ZoneInfo:
        name = super().to_internal_value(data)
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail("unknown", value=name)

    def to_representation(self, value) -> str:
        return str(value)


@extend_schema_field(OpenApiTypes.DATETIME)
class LocalDateTimeField(serializers.Field):
    """An ISO 8601 datetime or date (a date alone means midnight); naive values stay naive until placed in ``tz``."""

    default_error_messages = {"invalid": "Enter an ISO 8601 date or datetime, e.g. 2026-01-31 or 2026-01-31T08:00:00Z."}

    def to_internal_value(self, data) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            parsed = parse_datetime(data.strip())
            if parsed is None:
                day = parse_date(data.strip())
                parsed = datetime.combine(day, time()) if day is not None else None
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        return parsed


def _as_utc(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    """*value* as an aware UTC datetime (a naive one read in *tz*); raises OverflowError outside UTC's calendar.

    Python takes UTC offsets up to ±23:59 while PostgreSQL takes ±15:59, so nothing but UTC reaches SQL.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz, fold=0)
    return value.astimezone(UTC)


class RangeQuerySerializer(serializers.Serializer):
    """``from`` (inclusive), ``to`` (exclusive) and ``tz``; naive datetimes are read in ``tz``."""

    to = LocalDateTimeField(required=False, help_text="Exclusive; a naive value is read in tz.")
    tz = TimeZoneField(required=False, help_text="IANA time zone name; default TIME_ZONE.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = LocalDateTimeField(required=False, help_text="Inclusive; a naive value is read in tz.")
        return fields

    def validate(self, attrs: dict) -> dict:
        tz = attrs.get("tz") or ZoneInfo(settings.TIME_ZONE)
        attrs["tz"] = tz
        for field, key in (("from", "start"), ("to", "end")):
            try:
                attrs[key] = _as_utc(attrs.pop(field, None), tz)
            except OverflowError:
                message = "Out of range: the instant falls outside years 1-9999 in UTC."
                raise serializers.ValidationError({field: [message]}) from None
        if attrs["start"] is not None and attrs["end"] is not None and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"from": ["'from' must not be after 'to'."]})
        return attrs


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
