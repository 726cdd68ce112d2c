"""Celery tasks of the dashboard app: queued uploads and their settling, alert evaluation and delivery."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from celery.signals import worker_ready
from django.db import DatabaseError, connection

from dashboard.services.alerts import alert_delivery_attempt, alerts_run
from dashboard.services.uploads import upload_process, uploads_settle

logger = logging.getLogger("dashboard.uploads")


@shared_task(acks_late=True, reject_on_worker_lost=True)
def upload_process_task(upload_id: int) -> str:
    """Import a queued upload. Redelivered after a worker dies; the interrupted transaction left nothing behind."""
    return upload_process(upload_id=upload_id).status


@shared_task
def uploads_settle_task() -> int:
    """Beat: fail uploads left ``processing`` longer than UPLOAD_STALE_AFTER (nothing of them was imported)."""
    return uploads_settle()


@worker_ready.connect
def uploads_settle_at_worker_start(**kwargs) -> None:
    """A worker that starts settles what a dead one left behind, without waiting for beat."""
    try:
        settled = uploads_settle()
    except DatabaseError as exc:  # the database is down too: beat or the next start will do it
        logger.warning("uploads not settled at worker start: %s", exc)
        return
    finally:
        connection.close()  # the worker's main process keeps no connection of its own
    if settled:
        logger.warning("settled %s interrupted upload(s) at worker start", settled)


@shared_task
def alerts_evaluate_task(metric_names: list[str] | None = None) -> dict:
    """Evaluate alert rules (beat: all of them; after a write: those on KPIs of *metric_names*)."""
    outcome = alerts_run(metric_names=metric_names)
    return {"evaluated": outcome.evaluated, "fired": outcome.fired, "resolved": outcome.resolved}


@shared_task
def alert_delivery_task(delivery_id: int) -> bool:
    """Make one delivery attempt; the attempt row is claimed atomically, so a duplicate task does nothing."""
    return alert_delivery_attempt(delivery_id=delivery_id, only_due=False) is not None


class CeleryUploadQueue:
    """The import service's queue (see ``dashboard.services.uploads.UploadQueue``)."""

    def process(self, *, upload_id: int) -> None:
        upload_process_task.delay(upload_id)


class CeleryAlertQueue:
    """The alert services' queue (see ``dashboard.services.alerts.AlertQueue``)."""

    def evaluate(self, *, metric_names: list[str] | None) -> None:
        alerts_evaluate_task.delay(metric_names=metric_names)

    def deliver(self, *, delivery_id: int, eta: datetime | None) -> None:
        alert_delivery_task.apply_async((delivery_id,), eta=eta)
