"""The rollup tables: hour and day cells of the metrics and the per-name totals, kept exact by every write path."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
