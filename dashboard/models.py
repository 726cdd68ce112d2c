"""Metrics, the uploads that import them, and KPIs computed over them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone


class Aggregation(models.TextChoices):
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"
    LAST = "last"


class Period(models.TextChoices):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class Upload(models.Model):
    """One file of metrics sent for import, kept in the history whatever its outcome."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    file = models.FileField(upload_to="uploads/%Y/%m/%d/", blank=True, max_length=500)
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


class Metric(models.Model):
    """One measured value: the seed's model plus the upload that created it, if any."""

    name = models.CharField(max_length=255)
    value = models.FloatField()
    timestamp = models.DateTimeField(default=timezone.now)
    # No index of its own: metric_owner_name_ts_idx starts with owner_id and serves every owner lookup.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="metrics", db_index=False
    )
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, null=True, blank=True, related_name="metrics")

    class Meta:
        ordering = ["-timestamp", "-id"]
        permissions = [("view_all_metrics", "Can view every user's metrics")]
        indexes = [
            models.Index(fields=["owner", "name", "timestamp"], name="metric_owner_name_ts_idx"),
            models.Index(fields=["name", "timestamp"], name="metric_name_ts_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class KPI(models.Model):
    """A target for one metric, aggregated per period."""

    class Direction(models.TextChoices):
        UP = "up", "Higher is better"
        DOWN = "down", "Lower is better"

    name = models.CharField(max_length=255, unique=True)
    slug = models.SlugField(max_length=255, unique=True, editable=False)
    description = models.TextField(blank=True)
    metric_name = models.CharField(max_length=255)
    aggregation = models.CharField(max_length=8, choices=Aggregation.choices, default=Aggregation.SUM)
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.MONTH)
    target = models.FloatField(null=True, blank=True)
    direction = models.CharField(max_length=4, choices=Direction.choices, default=Direction.UP)
    warning_threshold_pct = models.FloatField(default=10, validators=[MinValueValidator(0)])
    unit = models.CharField(max_length=32, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="kpis", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "KPI"
        verbose_name_plural = "KPIs"

    def __str__(self) -> str:
        return self.name
