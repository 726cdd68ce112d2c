"""Uploads: one file of metrics sent for import, kept in the history whatever its outcome."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def upload_file_path(instance: Upload | None = None, filename: str = "") -> str:
    """Where an uploaded file is kept in the storage: by day, under a random name (never the client's)."""
    return f"uploads/{timezone.now():%Y/%m/%d}/{uuid.uuid4().hex}.csv"


class Upload(models.Model):
    """One file of metrics sent for import, kept in the history whatever its outcome."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    file = models.FileField(upload_to=upload_file_path, blank=True, max_length=500)
    filename = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    tz = models.CharField(max_length=64, default="UTC")
    rows_total = models.IntegerField(default=0)
    rows_imported = models.IntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    error_count = models.IntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="uploads")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_by", "sha256"], name="upload_owner_sha_idx"),
            models.Index(fields=["status", "created_at"], name="upload_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"
