"""Celery tasks of the accounts app: the password reset mail, sent by a worker so no response waits for it."""

from __future__ import annotations

from celery import shared_task

from accounts.services.passwords import password_reset_mail_send_now, password_reset_request


@shared_task
def password_reset_task(email: str) -> None:
    """Look *email* up and mail it a reset link if it is an account's (queued for known and unknown alike)."""
    password_reset_request(email=email, send=password_reset_mail_send_now)
