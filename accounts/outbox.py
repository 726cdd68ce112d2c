"""Outgoing mail that a response must not wait for: sent in a thread once the current transaction commits."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

logger = logging.getLogger("dashboard.mail")

# Backends that write a message where people read logs (stdout) instead of sending it.
PRINTING_BACKENDS = frozenset({"django.core.mail.backends.console.EmailBackend"})
# Backends that never deliver: fine for tests and development, not for a deployment.
UNDELIVERING_BACKENDS = PRINTING_BACKENDS | {
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}

_threads: set[threading.Thread] = set()
_threads_lock = threading.Lock()


def mail_prints_messages() -> bool:
    """True when the configured backend would print a message (its links included) into the server's output while
    DEBUG is off: such messages must not be sent (``check --deploy`` reports the configuration as an error)."""
    return not settings.DEBUG and settings.EMAIL_BACKEND in PRINTING_BACKENDS


def _send(message: EmailMessage) -> None:
    try:
        message.send()
    except Exception:  # the request has been answered; a mail server fault is only logged (no address, no body)
        logger.exception("sending a mail failed")
    finally:
        with _threads_lock:
            _threads.discard(threading.current_thread())


def mail_send_after_commit(message: EmailMessage) -> None:
    """Send *message* in a background thread once the current transaction commits (at once outside one), so the
    response does not wait for the mail server. The thread is not a daemon: a worker shutting down gracefully
    finishes sending first."""

    def start() -> None:
        thread = threading.Thread(target=_send, args=(message,), name="mail-send")
        with _threads_lock:
            _threads.add(thread)
        thread.start()

    transaction.on_commit(start, robust=True)


def mail_threads_join(timeout: float = 10.0) -> None:
    """Wait for the mails being sent in the background (tests, shutdown)."""
    with _threads_lock:
        pending = list(_threads)
    for thread in pending:
        thread.join(timeout)
