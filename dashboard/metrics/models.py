"""Metrics: one measured value of a name at an instant, owned by a user, imported by an upload or written directly."""

from __future__ import annotations

from django.conf import settings
from django.db import models, router, transaction
from django.utils import timezone

from dashboard.metrics.managers import ROLLUP_FIELDS, MetricQuerySet
from dashboard.rollup.write import rollup_add, rollup_refresh
from dashboard.uploads.models import Upload


class Aggregation(models.TextChoices):
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"
    LAST = "last"


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
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            if self._state.adding and self.pk is None:
                super().save(*args, **kwargs)
                rollup_add(metrics=[self], using=using)
            else:
                # The stored row, not this instance's memory of it: its cell is the one to refresh.
                stored = type(self).objects.using(using).filter(pk=self.pk).select_for_update()
                before = stored.values_list(*ROLLUP_FIELDS).first()
                super().save(*args, **kwargs)
                after = tuple(getattr(self, field) for field in ROLLUP_FIELDS)
                rollup_refresh(
                    rows=[row for row in (before, after) if row is not None],
                    raw=type(self)._base_manager.all(),
                    using=using,
                )

    def delete(self, using=None, keep_parents=False):
        using = using or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            stored = type(self).objects.using(using).filter(pk=self.pk).select_for_update()
            stored_row = stored.values_list(*ROLLUP_FIELDS).first()
            result = super().delete(using=using, keep_parents=keep_parents)
            if stored_row is not None:
                rollup_refresh(rows=[stored_row], raw=type(self)._base_manager.all(), using=using)
        return result
