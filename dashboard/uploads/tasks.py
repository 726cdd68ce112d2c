"""Celery tasks of uploads: queued imports, and settling what a dead worker left ``processing``."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import DatabaseError, connection

from dashboard.uploads.services import upload_process, uploads_settle

logger = logging.getLogger("dashboard.uploads")


@shared_task(name="dashboard.tasks.upload_process_task", acks_late=True, reject_on_worker_lost=True)
def upload_process_task(upload_id: int) -> str:
    """Import a queued upload. Redelivered after a worker dies; the interrupted transaction left nothing behind."""
    return upload_process(upload_id=upload_id).status


@shared_task(name="dashboard.tasks.uploads_settle_task")
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


class CeleryUploadQueue:
    """The import service's queue (see ``dashboard.uploads.services.UploadQueue``)."""

    def process(self, *, upload_id: int) -> None:
        upload_process_task.delay(upload_id)
