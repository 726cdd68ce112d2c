"""Claiming, completing and releasing ``Idempotency-Key``s, and purging expired ones.

The claim is a row inserted in its own committed transaction before the request runs; the unique constraint on
(user, route, key) makes a concurrent duplicate fail to insert, in any process on any host sharing the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from idempotency.exceptions import IdempotencyInProgress, IdempotencyKeyReused
from idempotency.models import IdempotencyRecord

# A claim still in progress after this long belongs to a process that died mid-request (no request runs this long:
# the web server's timeout kills it first); the key may then be claimed again.
STALE_CLAIM_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class ClaimOutcome:
    """Either ``claimed`` (ours: run the request, then complete or release it) or ``stored`` (replay it)."""

    claimed: IdempotencyRecord | None = None
    stored: IdempotencyRecord | None = None


def _ttl() -> timedelta:
    return timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)


def _dead(record: IdempotencyRecord, now: datetime) -> bool:
    return record.expires_at <= now or (record.in_progress and record.created_at <= now - STALE_CLAIM_AFTER)


def idempotency_claim(*, user: User, route: str, key: str, fingerprint: str) -> ClaimOutcome:
    """Claim *key* for *user* on *route*, or find the earlier request that holds it.

    Raises IdempotencyKeyReused (422) when the earlier request had another fingerprint and IdempotencyInProgress
    (409) while it is still running. An expired record, or a claim abandoned by a dead process, is replaced.
    """
    for _ in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=user, route=route, key=key, fingerprint=fingerprint, created_at=now, expires_at=now + _ttl()
                )
            return ClaimOutcome(claimed=record)
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(user=user, route=route, key=key).first()
        if existing is None:
            continue  # released or purged in between: claim again
        if _dead(existing, now):
            IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if existing.in_progress:
            raise IdempotencyInProgress()
        return ClaimOutcome(stored=existing)
    raise IdempotencyInProgress()


def idempotency_complete(*, record: IdempotencyRecord, status_code: int, content_type: str, body: bytes) -> None:
    """Keep the response of the claimed request; a status of 500 or more is not kept (the key may be retried)."""
    if status_code >= 500:
        idempotency_release(record=record)
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status_code=status_code, content_type=content_type[:100], response_body=body
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Give the key up (the request failed without a response worth keeping)."""
    IdempotencyRecord.objects.filter(pk=record.pk).delete()


def idempotency_records_purge(*, now: datetime | None = None) -> int:
    """Delete expired records and abandoned claims; returns how many."""
    now = now or timezone.now()
    dead = Q(expires_at__lte=now) | Q(status_code__isnull=True, created_at__lte=now - STALE_CLAIM_AFTER)
    deleted, _ = IdempotencyRecord.objects.filter(dead).delete()
    return deleted
