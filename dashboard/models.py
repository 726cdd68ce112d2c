"""Metrics, the uploads that import them, KPIs computed over them, the alert rules that watch KPIs, and the boards
that arrange them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models, router, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from dashboard.managers import ROLLUP_FIELDS, MetricQuerySet


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


class Metric(models.Model):
    """One measured value: the seed's model plus the upload that created it, if any.

    Every ORM write (``save``, ``delete``, and the queryset's ``bulk_create``, ``bulk_update``, ``update``,
    ``delete``) keeps :class:`MetricHour` exact in the same transaction; the COPY import does it itself.
    """

    name = models.CharField(max_length=255)
    value = models.FloatField()
    timestamp = models.DateTimeField(default=timezone.now)
    # No index of its own: metric_owner_name_ts_idx starts with owner_id and serves every owner lookup.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="metrics", db_index=False
    )
    # No database constraint: only the import writes upload_id, inside the transaction that holds its Upload's row
    # lock, and an upload is deleted only with its rows (``upload_delete`` locks it first; the ORM cascades). A
    # constraint would cost a lookup per imported row, about a fifth of an import (bench/README.md).
    upload = models.ForeignKey(
        Upload, on_delete=models.CASCADE, null=True, blank=True, related_name="metrics", db_constraint=False
    )

    objects = MetricQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        permissions = [("view_all_metrics", "Can view every user's metrics")]
        indexes = [
            models.Index(fields=["owner", "name", "timestamp"], name="metric_owner_name_ts_idx"),
            models.Index(fields=["name", "timestamp"], name="metric_name_ts_idx"),
            # The list's order (-timestamp, -id): its first page reads 100 index entries, not every row.
            models.Index(fields=["timestamp", "id"], name="metric_ts_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        from dashboard.services import rollup

        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            if self._state.adding and self.pk is None:
                super().save(*args, **kwargs)
                rollup.rollup_add(metrics=[self], using=using)
            else:
                # The stored row, not this instance's memory of it: its cell is the one to refresh.
                stored = type(self).objects.using(using).filter(pk=self.pk).select_for_update()
                before = stored.values_list(*ROLLUP_FIELDS).first()
                super().save(*args, **kwargs)
                after = tuple(getattr(self, field) for field in ROLLUP_FIELDS)
                rollup.rollup_refresh(rows=[row for row in (before, after) if row is not None], using=using)

    def delete(self, using=None, keep_parents=False):
        from dashboard.services import rollup

        using = using or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            stored = type(self).objects.using(using).filter(pk=self.pk).select_for_update()
            stored = stored.values_list(*ROLLUP_FIELDS).first()
            result = super().delete(using=using, keep_parents=keep_parents)
            if stored is not None:
                rollup.rollup_refresh(rows=[stored], using=using)
        return result


class RollupCell(models.Model):
    """The columns of a rollup cell: one owner's metrics of one name and source (0 for metrics written through the
    API or the admin, else the upload that imported them) over one span of time, which the concrete model names."""

    name = models.CharField(max_length=255)
    # Derived data: no constraint to check on every insert; Metric's own foreign key protects the owner.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    source = models.BigIntegerField(default=0)
    value_count = models.BigIntegerField()
    value_sum = models.FloatField()
    value_min = models.FloatField()
    value_max = models.FloatField()
    first_timestamp = models.DateTimeField()
    last_timestamp = models.DateTimeField()
    last_id = models.BigIntegerField()
    last_value = models.FloatField()

    class Meta:
        abstract = True


class MetricHour(RollupCell):
    """The hourly rollup: the metrics of one owner and name in one UTC hour, per source (0 for metrics written
    through the API or the admin, else the upload that imported them), kept exact by every write path.

    Reads compose series, summaries, names and counts from these cells (one row per hour instead of one per metric);
    an upload's cells go with it when it is deleted.
    """

    pk = models.CompositePrimaryKey("name", "hour", "owner", "source")
    hour = models.DateTimeField()

    class Meta:
        verbose_name = "metric hour"

    def __str__(self) -> str:
        return f"{self.name} @ {self.hour:%Y-%m-%d %H:00} ({self.value_count})"


class MetricDay(RollupCell):
    """The daily rollup: :class:`MetricHour`'s cells of one UTC day folded together (same key, ``day`` for ``hour``),
    kept exact with them by every write path.

    A year or a month in any zone whose offsets are whole hours is mostly whole UTC days: reads take those from here
    (one row per day) and only the days holding a bucket boundary from the hours.
    """

    pk = models.CompositePrimaryKey("name", "day", "owner", "source")
    day = models.DateTimeField()

    class Meta:
        verbose_name = "metric day"

    def __str__(self) -> str:
        return f"{self.name} @ {self.day:%Y-%m-%d} ({self.value_count})"


KPI_NAME_TAKEN = "A KPI with this name already exists."


class KPI(models.Model):
    """A target for one metric, aggregated per period."""

    class Direction(models.TextChoices):
        UP = "up", "Higher is better"
        DOWN = "down", "Lower is better"

    class Status(models.TextChoices):
        """Where a KPI's value stands against its target (computed, never stored)."""

        ON_TRACK = "on_track", "On track"
        AT_RISK = "at_risk", "At risk"
        OFF_TRACK = "off_track", "Off track"
        NO_DATA = "no_data", "No data"
        NO_TARGET = "no_target", "No target"

    name = models.CharField(max_length=255)  # unique whatever the case: the Lower() constraint below
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
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="dashboard_kpi_name_ci_unique", violation_error_message=KPI_NAME_TAKEN
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def warning_band(self) -> tuple[float, float] | None:
        """``(low, high)``: the values within ``warning_threshold_pct`` of the target on its losing side (at risk),
        the target itself being one end; None without a target."""
        if self.target is None:
            return None
        margin = abs(self.target) * self.warning_threshold_pct / 100
        if self.direction == self.Direction.UP:
            return self.target - margin, self.target
        return self.target, self.target + margin


def _default_time_zone() -> str:
    return settings.TIME_ZONE


class AlertRule(models.Model):
    """Watches one KPI for its creator: a condition, where to tell, and the state of the last evaluation."""

    class Condition(models.TextChoices):
        STATUS = "status"
        ABOVE = "above"
        BELOW = "below"

    class State(models.TextChoices):
        OK = "ok"
        FIRING = "firing"

    name = models.CharField(max_length=255)
    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="alert_rules")
    condition = models.CharField(max_length=8, choices=Condition.choices)
    statuses = models.JSONField(default=list, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    tz = models.CharField(max_length=64, default=_default_time_zone)
    channels = models.JSONField(default=list)
    repeat_minutes = models.PositiveIntegerField(null=True, blank=True)
    muted_until = models.DateTimeField(null=True, blank=True)
    # Signs webhook bodies (HMAC needs the secret itself); shown once on creation and on rotation.
    webhook_secret = models.CharField(max_length=64, editable=False)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OK, editable=False)
    last_value = models.FloatField(null=True, blank=True, editable=False)
    last_status = models.CharField(max_length=16, blank=True, editable=False)
    last_evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set by a write touching the KPI's metric without a broker; the next evaluation clears it.
    evaluation_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Compare-and-set guard: a transition is written only if nobody else wrote one since it was read.
    revision = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="alert_rules")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["kpi", "state"], name="alertrule_kpi_state_idx")]

    def __str__(self) -> str:
        return self.name


class AlertEvent(models.Model):
    """One transition of a rule (or a repeat or test notification); its ``event_id`` is the same on every retry."""

    class Type(models.TextChoices):
        FIRING = "alert.firing"
        RESOLVED = "alert.resolved"
        TEST = "alert.test"

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=16, choices=Type.choices)
    value = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=16, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    # False when the rule was muted: the transition is kept, nobody is told.
    notified = models.BooleanField(default=True)
    # The webhook body, fixed when the event happens so every retry sends the same bytes.
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["rule", "-created_at", "-id"], name="alertevent_rule_created_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class AlertDelivery(models.Model):
    """One attempt to tell one channel about an event; a failed attempt schedules the next one."""

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    # The channel as configured on the rule when the event happened ({"type": ..., "url"|"to": ...}).
    destination = models.JSONField(default=dict)
    attempt = models.PositiveSmallIntegerField(default=1)
    # Due time of an attempt not made yet; cleared (atomically) by whoever makes it.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "alert deliveries"
        indexes = [
            models.Index(
                fields=["scheduled_for"], condition=models.Q(scheduled_for__isnull=False), name="alertdelivery_due_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} attempt {self.attempt}"


class MetricTotal(models.Model):
    """Per name, owner and source (as in :class:`MetricHour`): how many metrics, the first and the last timestamp.
    ``metrics/names`` and the list's count over all time read these few rows instead of every hour."""

    pk = models.CompositePrimaryKey("name", "owner", "source")
    name = models.CharField(max_length=255)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    source = models.BigIntegerField(default=0)
    value_count = models.BigIntegerField()
    first_timestamp = models.DateTimeField()
    last_timestamp = models.DateTimeField()

    class Meta:
        verbose_name = "metric total"

    def __str__(self) -> str:
        return f"{self.name} ({self.value_count})"


class Board(models.Model):
    """A saved dashboard: panels on a 12-column grid, owned by one user and shared read-only with roles."""

    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=255, unique=True, editable=False)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="boards")
    shared_with = models.ManyToManyField("auth.Group", blank=True, related_name="boards")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Panel(models.Model):
    """One panel of a board: a KPI's card and recent series, a metric series, or every KPI's card.

    ``range`` is a relative range's name or ``{"from": ..., "to": ...}`` as given (resolved per request in its
    zone); geometry is checked by the board service, and again here by constraints.
    """

    class Type(models.TextChoices):
        KPI = "kpi"
        SERIES = "series"
        SUMMARY = "summary"

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="panels")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=255, blank=True)
    type = models.CharField(max_length=8, choices=Type.choices)
    # Deleting a KPI removes the panels showing it.
    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, null=True, blank=True, related_name="panels")
    metric_name = models.CharField(max_length=255, blank=True)
    metric_bucket = models.CharField(max_length=8, blank=True)
    metric_agg = models.CharField(max_length=8, choices=Aggregation.choices, blank=True)
    range = models.JSONField(null=True, blank=True)
    x = models.PositiveSmallIntegerField()
    y = models.PositiveSmallIntegerField()
    w = models.PositiveSmallIntegerField()
    h = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["board", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(w__gte=1, h__gte=1, h__lte=12, x__lte=12 - models.F("w")),
                name="panel_on_grid",
            )
        ]

    def __str__(self) -> str:
        return self.title or self.type
