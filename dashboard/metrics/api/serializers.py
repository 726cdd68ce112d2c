"""Serializers of the metrics API: list filters, the series query, a metric in and out, names and series bodies."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from rest_framework import serializers

from core.serializers import FastOutputMixin
from dashboard.fields import FiniteFloatField, RangeQuerySerializer
from dashboard.metrics.models import Aggregation, Metric
from dashboard.timeseries import BUCKETS

METRICS_CREATE_MAX = 10_000


ORDERINGS = ("timestamp", "-timestamp", "value", "-value", "name")


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
