"""Boards: saved dashboards of panels on a 12-column grid, owned by a user and shared read-only with roles."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.kpis.models import KPI
from dashboard.metrics.models import Aggregation


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
