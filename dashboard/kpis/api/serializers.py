"""Serializers of the KPI API: a KPI in and out, its series, and the summary rows."""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dashboard.fields import FiniteFloatField
from dashboard.kpis.models import KPI


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
    """Serializes :class:`dashboard.kpis.selectors.KPIStatus` as it is."""

    kpi = KPIBriefSerializer()
    current = PeriodValueSerializer()
    previous = PeriodValueSerializer()
    previous_to_date = PeriodToDateSerializer()
    change_pct = serializers.FloatField(allow_null=True)
    change_to_date_pct = serializers.FloatField(allow_null=True)
    progress_pct = serializers.FloatField(allow_null=True)
    status = serializers.ChoiceField(choices=KPI.Status.choices)


def kpi_series_body(*, kpi: KPI, points) -> dict:
    body = {"kpi": kpi, "points": [{"t": p.t.isoformat(), "value": p.value, "target": kpi.target} for p in points]}
    return KPISeriesSerializer(body).data


def summary_item(row) -> dict:
    """One ``summary`` row (a :class:`dashboard.kpis.selectors.KPIStatus`) as the API gives it."""
    return KPISummarySerializer(row).data
