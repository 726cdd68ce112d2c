"""Celery tasks of the dashboard app."""

from celery import shared_task

from dashboard.services.uploads import upload_process


@shared_task(acks_late=True, reject_on_worker_lost=True)
def upload_process_task(upload_id: int) -> str:
    """Import a queued upload. Redelivered after a worker dies; the interrupted transaction left nothing behind."""
    return upload_process(upload_id=upload_id).status
