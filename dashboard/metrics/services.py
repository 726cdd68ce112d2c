"""Writes of metrics (the API's and the admin's): every write keeps the rollup exact and asks for the alert
rules on those names to be evaluated."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from dashboard.alerts.evaluation import alerts_metrics_touched
from dashboard.metrics.models import Metric

METRICS_BATCH_SIZE = 1000


@transaction.atomic
def metrics_create(*, owner: User, items: Iterable[dict]) -> list[Metric]:
    """Create metrics owned by *owner*, all or none; a missing timestamp means now."""
    now = timezone.now()
    metrics = [
        Metric(name=item["name"], value=item["value"], timestamp=item.get("timestamp") or now, owner=owner)
        for item in items
    ]
    created = Metric.objects.bulk_create(metrics, batch_size=METRICS_BATCH_SIZE)
    alerts_metrics_touched(names={metric.name for metric in created})
    return created


def metric_update(*, metric: Metric, **changes) -> Metric:
    touched = {metric.name, changes.get("name", metric.name)}
    for field in ("name", "value", "timestamp"):
        if field in changes:
            setattr(metric, field, changes[field])
    metric.save(update_fields=[field for field in ("name", "value", "timestamp") if field in changes] or None)
    alerts_metrics_touched(names=touched)
    return metric


def metric_delete(*, metric: Metric) -> None:
    metric.delete()
    alerts_metrics_touched(names={metric.name})
