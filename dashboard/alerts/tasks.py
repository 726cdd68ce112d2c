"""Celery tasks of alerts: evaluation (beat, or after a metric write) and one delivery attempt."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from dashboard.alerts.delivery import alert_delivery_attempt
from dashboard.alerts.evaluation import alerts_run


@shared_task(name="dashboard.tasks.alerts_evaluate_task")
def alerts_evaluate_task(metric_names: list[str] | None = None) -> dict:
    """Evaluate alert rules (beat: all of them; after a write: those on KPIs of *metric_names*)."""
    outcome = alerts_run(metric_names=metric_names)
    return {"evaluated": outcome.evaluated, "fired": outcome.fired, "resolved": outcome.resolved}


@shared_task(name="dashboard.tasks.alert_delivery_task")
def alert_delivery_task(delivery_id: int) -> bool:
    """Make one delivery attempt; the attempt row is claimed atomically, so a duplicate task does nothing."""
    return alert_delivery_attempt(delivery_id=delivery_id, only_due=False) is not None


class CeleryAlertQueue:
    """The alert services' queue (see ``dashboard.alerts.queue.AlertQueue``)."""

    def evaluate(self, *, metric_names: list[str] | None) -> None:
        alerts_evaluate_task.delay(metric_names=metric_names)

    def deliver(self, *, delivery_id: int, eta: datetime | None) -> None:
        alert_delivery_task.apply_async((delivery_id,), eta=eta)  # type: ignore[arg-type]  # Celery takes eta=None
