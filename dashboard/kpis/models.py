"""KPIs: a target for one metric aggregated per period, and the arithmetic of where a value stands against it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from dashboard.metrics.models import Aggregation


class Period(models.TextChoices):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


KPI_NAME_TAKEN = "A KPI with this name already exists."


def finite_or_none(value: float) -> float | None:
    """*value*, or None when it overflowed a float (a ratio of values near the float range): JSON has no infinity."""
    return value if math.isfinite(value) else None


def change_pct(current: float | None, previous: float | None) -> float | None:
    """(current - previous) / |previous| * 100; None when either is missing or previous is 0."""
    if current is None or previous is None or previous == 0:
        return None
    return finite_or_none((current - previous) / abs(previous) * 100)


@dataclass(frozen=True)
class KPIReading:
    """Where a KPI's value stands: its change against the previous value, its progress towards the target (both in
    percent, None when they cannot be computed) and its status (a ``KPI.Status``)."""

    change_pct: float | None
    progress_pct: float | None
    status: str


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
    period = models.CharField(max_length=8, choices=Period, default=Period.MONTH)
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

    def reading(self, *, current: float | None, previous: float | None) -> KPIReading:
        """Where *current* stands against the target (and against *previous*), by the contract's arithmetic: on track
        at or beyond the target, at risk inside the warning band, off track beyond it."""
        change = change_pct(current, previous)
        progress = None
        if current is not None and self.target is not None and self.target != 0:
            progress = finite_or_none(current / self.target * 100)
        return KPIReading(change_pct=change, progress_pct=progress, status=self._status_of(current))

    def _status_of(self, current: float | None) -> str:
        if current is None:
            return self.Status.NO_DATA
        band = self.warning_band()
        if band is None or self.target is None:
            return self.Status.NO_TARGET
        low, high = band
        if self.direction == self.Direction.UP:
            if current >= self.target:
                return self.Status.ON_TRACK
            return self.Status.AT_RISK if current >= low else self.Status.OFF_TRACK
        if current <= self.target:
            return self.Status.ON_TRACK
        return self.Status.AT_RISK if current <= high else self.Status.OFF_TRACK

    def warning_band(self) -> tuple[float, float] | None:
        """``(low, high)``: the values within ``warning_threshold_pct`` of the target on its losing side (at risk),
        the target itself being one end; None without a target."""
        if self.target is None:
            return None
        margin = abs(self.target) * self.warning_threshold_pct / 100
        if self.direction == self.Direction.UP:
            return self.target - margin, self.target
        return self.target, self.target + margin
