"""The metrics' queryset: its bulk writes keep the rollups exact in the same transaction
(:mod:`dashboard.rollup.write`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models, router, transaction

from dashboard.rollup.write import StoredRow, rollup_add, rollup_refresh

if TYPE_CHECKING:
    from dashboard.metrics.models import Metric

ROLLUP_FIELDS = ("owner_id", "name", "timestamp", "upload_id")
# Changing one of these moves a metric between rollup cells or changes its cell's aggregates.
ROLLUP_INPUTS = {"owner", "owner_id", "name", "timestamp", "upload", "upload_id", "value"}


class MetricQuerySet(models.QuerySet["Metric"]):
    # Set by QuerySet.__init__; private to Django, so not in its stubs.
    _db: str | None
    _hints: dict[str, Any]

    @property
    def write_db(self) -> str:
        return self._db or router.db_for_write(self.model, **self._hints)

    def _raw_rows(self) -> models.QuerySet[Metric]:
        """Every stored metric, whatever this queryset's filters: what a refreshed cell is recomputed from."""
        return self.model._base_manager.all()

    def _stored_rows(self, pks: list[int] | None = None) -> list[StoredRow]:
        rows = self if pks is None else self.model._base_manager.filter(pk__in=pks)
        return list(rows.using(self.write_db).order_by().values_list(*ROLLUP_FIELDS))

    def bulk_create(self, objs, *args, **kwargs):
        with transaction.atomic(using=self.write_db, savepoint=False):
            created = super().bulk_create(objs, *args, **kwargs)
            if all(metric.pk is not None for metric in created):
                rollup_add(metrics=created, using=self.write_db)
            else:  # ignore_conflicts: the database did not say which rows it wrote
                rows = [tuple(getattr(metric, field) for field in ROLLUP_FIELDS) for metric in created]
                rollup_refresh(rows=rows, raw=self._raw_rows(), using=self.write_db)
        return created

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs = list(objs)
        if not ROLLUP_INPUTS.intersection(fields):
            return super().bulk_update(objs, fields, *args, **kwargs)
        with transaction.atomic(using=self.write_db, savepoint=False):
            pks = [obj.pk for obj in objs]
            before = self._stored_rows(pks)
            updated = super().bulk_update(objs, fields, *args, **kwargs)
            rollup_refresh(rows=before + self._stored_rows(pks), raw=self._raw_rows(), using=self.write_db)
        return updated

    def update(self, **kwargs):
        if not ROLLUP_INPUTS.intersection(kwargs):
            return super().update(**kwargs)
        with transaction.atomic(using=self.write_db, savepoint=False):
            pks = list(self.using(self.write_db).order_by().values_list("pk", flat=True))
            before = self._stored_rows(pks)
            updated = super().update(**kwargs)
            rollup_refresh(rows=before + self._stored_rows(pks), raw=self._raw_rows(), using=self.write_db)
        return updated

    update.alters_data = True  # type: ignore[attr-defined]  # Django's flag on a method, set as QuerySet sets it

    def delete(self):
        with transaction.atomic(using=self.write_db, savepoint=False):
            before = self._stored_rows()
            result = super().delete()
            rollup_refresh(rows=before, raw=self._raw_rows(), using=self.write_db)
        return result

    delete.alters_data = True  # type: ignore[attr-defined]  # Django's flags on a method, set as QuerySet sets them
    delete.queryset_only = True  # type: ignore[attr-defined]  # as above (keeps delete off the manager)
