"""Shapes of boards, their panels, their data and their export in the API."""

from __future__ import annotations

from django.contrib.auth.models import Group
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dashboard.boards.models import Board, Panel
from dashboard.boards.services import EXPORT_FORMAT, EXPORT_VERSION
from dashboard.kpis.api.serializers import KPISummarySerializer
from dashboard.metrics.models import Aggregation
from dashboard.timeseries import BUCKETS, RELATIVE_RANGES

STORED_MAX = 32767
RANGE_SCHEMA = {
    "oneOf": [
        {"type": "string", "enum": list(RELATIVE_RANGES)},
        {
            "type": "object",
            "properties": {
                "from": {"type": "string", "description": "ISO 8601 date or datetime; naive values are read in tz"},
                "to": {"type": "string", "description": "ISO 8601 date or datetime; exclusive"},
            },
            "required": ["from", "to"],
        },
    ],
    "nullable": True,
}


@extend_schema_field(RANGE_SCHEMA)
class RangeField(serializers.JSONField):
    """A relative range's name or ``{from, to}``; its contents are checked by the board service."""


class MetricRefSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, trim_whitespace=True)
    bucket = serializers.ChoiceField(choices=BUCKETS)
    agg = serializers.ChoiceField(choices=Aggregation.choices, default=Aggregation.SUM)


class PanelInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255, allow_blank=True, required=False, default="")
    type = serializers.ChoiceField(choices=Panel.Type.choices)
    kpi = serializers.IntegerField(required=False, allow_null=True, help_text="The KPI's id (kpi panels only).")
    metric = MetricRefSerializer(required=False, allow_null=True, help_text="Series panels only.")
    range = RangeField(required=False, allow_null=True, default=None)
    # Storage bounds only; the grid's rules (x + w <= 12, 1 <= h <= 12, no overlap) are the board service's.
    x = serializers.IntegerField(min_value=0, max_value=STORED_MAX)
    y = serializers.IntegerField(min_value=0, max_value=STORED_MAX)
    w = serializers.IntegerField(min_value=0, max_value=STORED_MAX)
    h = serializers.IntegerField(min_value=0, max_value=STORED_MAX)


class BoardInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, trim_whitespace=True)
    description = serializers.CharField(allow_blank=True, required=False)
    shared_with = serializers.ListField(child=serializers.CharField(max_length=150), required=False)
    panels = PanelInputSerializer(many=True, required=False)


class PanelSerializer(serializers.ModelSerializer):
    kpi = serializers.IntegerField(source="kpi_id", allow_null=True)
    metric = serializers.SerializerMethodField()
    range = RangeField(allow_null=True)

    class Meta:
        model = Panel
        fields = ["id", "title", "type", "kpi", "metric", "range", "x", "y", "w", "h"]
        read_only_fields = fields

    @extend_schema_field(MetricRefSerializer(allow_null=True))
    def get_metric(self, panel: Panel) -> dict | None:
        if panel.type != Panel.Type.SERIES:
            return None
        return {"name": panel.metric_name, "bucket": panel.metric_bucket, "agg": panel.metric_agg}


class BoardSerializer(serializers.ModelSerializer):
    shared_with = serializers.SlugRelatedField[Group](slug_field="name", many=True, read_only=True)
    panels = PanelSerializer(many=True, read_only=True)

    class Meta:
        model = Board
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "owner",
            "shared_with",
            "panels",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PanelDataSerializer(serializers.Serializer):
    """Documents one panel of ``boards/{id}/data``: ``summary`` for kpi panels (one row) and summary panels (every
    row), ``series`` for kpi panels (``kpis/{id}/series``) and series panels (``metrics/series``)."""

    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=Panel.Type.choices)
    title = serializers.CharField()
    summary = KPISummarySerializer(required=False, help_text="A list of rows for a summary panel.")
    series = serializers.JSONField(required=False, help_text="kpis/{id}/series (kpi) or metrics/series (series).")
    error = serializers.JSONField(
        required=False,
        help_text="Instead of series, when its range holds more than SERIES_MAX_POINTS buckets: "
        "{detail, code: too_many_points, bucket, points, max_points, finest_bucket}: the series endpoint's 400 body.",
    )


class BoardDataSerializer(serializers.Serializer):
    board = BoardSerializer()
    panels = PanelDataSerializer(many=True)


class PanelExportSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255, allow_blank=True, required=False, default="")
    type = serializers.ChoiceField(choices=Panel.Type.choices)
    kpi = serializers.CharField(required=False, allow_null=True, help_text="The KPI's slug (kpi panels only).")
    metric = MetricRefSerializer(required=False, allow_null=True)
    range = RangeField(required=False, allow_null=True, default=None)
    # Storage bounds only; the grid's rules (x + w <= 12, 1 <= h <= 12, no overlap) are the board service's.
    x = serializers.IntegerField(min_value=0, max_value=STORED_MAX)
    y = serializers.IntegerField(min_value=0, max_value=STORED_MAX)
    w = serializers.IntegerField(min_value=0, max_value=STORED_MAX)
    h = serializers.IntegerField(min_value=0, max_value=STORED_MAX)


class BoardExportSerializer(serializers.Serializer):
    """The export of ``boards/{id}/export``, and the body of ``boards/import``."""

    format = serializers.ChoiceField(choices=[EXPORT_FORMAT], required=False, default=EXPORT_FORMAT)
    version = serializers.ChoiceField(choices=[EXPORT_VERSION], required=False, default=EXPORT_VERSION)
    name = serializers.CharField(max_length=255, trim_whitespace=True)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    shared_with = serializers.ListField(child=serializers.CharField(max_length=150), required=False, default=list)
    panels = PanelExportSerializer(many=True, required=False, default=list)
