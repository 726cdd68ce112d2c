"""The project's domain errors: what services raise when a request cannot be carried out, in no web framework's terms.

Each carries a message for people and a ``code`` of the contract's vocabulary; the API layer maps codes to HTTP
statuses in one table (:data:`core.exception_handler.STATUS_BY_CODE`), the admin and the CLI show the message.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors services raise; subclasses set ``code`` and ``message``."""

    code = "invalid"
    message = "The request cannot be carried out."

    def __init__(self, message: str | None = None):
        self.message = message or type(self).message
        super().__init__(self.message)


class RateLimited(DomainError):
    """Too many attempts: the caller may try again in ``wait`` seconds (None when unknown); the API sends it as
    Retry-After."""

    code = "throttled"
    message = "Too many attempts; wait before trying again."

    def __init__(self, message: str | None = None, *, wait: int | None = None):
        super().__init__(message)
        self.wait = wait
