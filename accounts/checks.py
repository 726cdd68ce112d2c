"""System checks of the accounts app (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

from accounts.outbox import UNDELIVERING_BACKENDS


@register(Tags.security, deploy=True)
def mail_backend_delivers(app_configs, **kwargs) -> list[Error]:
    """With DEBUG off the mail backend must deliver: the console backend prints reset links into the server log, and
    locmem or dummy drop every mail."""
    if settings.DEBUG or settings.EMAIL_BACKEND not in UNDELIVERING_BACKENDS:
        return []
    return [
        Error(
            f"EMAIL_BACKEND is {settings.EMAIL_BACKEND} with DEBUG off: password reset mails would be printed into "
            "the log or dropped.",
            hint="Set EMAIL_URL (e.g. smtp+tls://user:password@mail.example.com:587).",
            id="accounts.E001",
        )
    ]
