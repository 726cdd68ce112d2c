"""Celery tasks of idempotent writes."""

from celery import shared_task

from idempotency.services import idempotency_records_purge


@shared_task
def idempotency_purge_task() -> int:
    """Delete expired Idempotency-Key records and abandoned claims (Celery beat, hourly); returns how many."""
    return idempotency_records_purge()
