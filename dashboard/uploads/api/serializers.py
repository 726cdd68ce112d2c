"""Serializers of the uploads API: the file sent, the upload's query parameters, the upload record."""

from __future__ import annotations

from rest_framework import serializers

from dashboard.fields import TimeZoneField
from dashboard.uploads.models import Upload


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
