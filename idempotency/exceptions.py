"""Domain errors of idempotent writes (``core.errors``), in the contract's codes."""

from __future__ import annotations

from core.errors import DomainError


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for a different request; use a new key for a new request."


class IdempotencyInProgress(DomainError):
    code = "idempotency_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry later."
