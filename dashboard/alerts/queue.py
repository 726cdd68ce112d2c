"""How alert work reaches Celery workers: a queue that ``DashboardConfig.ready`` registers with the Celery classes of
``dashboard.alerts.tasks`` (services never import tasks)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from django.conf import settings


class AlertQueue(Protocol):
    """How work reaches Celery workers; registered at start-up by ``DashboardConfig.ready`` (services never import
    tasks)."""

    def evaluate(self, *, metric_names: list[str] | None) -> None: ...

    def deliver(self, *, delivery_id: int, eta: datetime | None) -> None: ...


_queue: AlertQueue | None = None


def alerts_queue_register(queue: AlertQueue | None) -> None:
    global _queue
    _queue = queue


def alerts_queue() -> AlertQueue | None:
    """The Celery queue when a broker is configured, else ``None`` (work is done inline or by the next run)."""
    return _queue if settings.CELERY_BROKER_URL else None
