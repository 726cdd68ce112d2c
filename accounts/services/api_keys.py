"""API keys: creation (the key shown once), revocation, and the check of a presented key on every request."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.api_key_rules import SCOPE_APP_LABELS, key_digest, key_generate, key_matches, key_prefix
from accounts.exceptions import TokenNotValid
from accounts.models import ApiKey, User
from accounts.selectors import permissions_by_codes
from core.compiled_sql import CompiledLookup

audit = logging.getLogger("dashboard.audit")

# last_used_at is written at most once per this interval per key, so a busy key costs no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_PREFIX_ATTEMPTS = 5


@dataclass(frozen=True)
class ApiKeyIssued:
    """A created key and its plain value, which exists only here and in the creation response."""

    api_key: ApiKey
    key: str


def _audit(event: str, message: str, *, actor_id: int | None, api_key: ApiKey) -> None:
    audit.info(
        message,
        extra={
            "event": event,
            "user_id": actor_id,
            "owner_id": api_key.user_id,
            "api_key_id": api_key.pk,
            "prefix": api_key.prefix,
        },
    )


def api_key_scopes_validate(*, user: User, scopes: Iterable[str]) -> list[str]:
    """The scopes as stored (each once, sorted), or a ValidationError on ``scopes``: empty, naming unknown
    permissions, permissions outside ``SCOPE_APP_LABELS``, or permissions *user* does not hold."""
    wanted = sorted(set(scopes))
    if not wanted:
        raise ValidationError({"scopes": ["Name at least one permission."]})
    _, unknown = permissions_by_codes(codes=wanted)
    if unknown:
        raise ValidationError({"scopes": [f"Unknown permissions: {', '.join(unknown)}."]})
    foreign = [code for code in wanted if code.partition(".")[0] not in SCOPE_APP_LABELS]
    if foreign:
        raise ValidationError(
            {"scopes": [f"Only dashboard permissions may be given to a key, not: {', '.join(foreign)}."]}
        )
    held = user.get_all_permissions()
    missing = [code for code in wanted if code not in held]
    if missing:
        raise ValidationError({"scopes": [f"You do not hold these permissions: {', '.join(missing)}."]})
    return wanted


def api_key_create(*, user: User, name: str, scopes: Iterable[str], expires_at: datetime | None = None) -> ApiKeyIssued:
    """Create a key for *user* with *scopes* (a subset of the user's dashboard permissions); audited."""
    scopes = api_key_scopes_validate(user=user, scopes=scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["Must be in the future."]})
    for attempt in range(_PREFIX_ATTEMPTS):
        prefix, key = key_generate()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    user=user, name=name, prefix=prefix, digest=key_digest(key), scopes=scopes, expires_at=expires_at
                )
            break
        except IntegrityError:
            # A prefix collision (48 random bits): draw again.
            if attempt == _PREFIX_ATTEMPTS - 1:
                raise
    _audit("api_key_created", "api key created", actor_id=user.pk, api_key=api_key)
    return ApiKeyIssued(api_key=api_key, key=key)


def api_key_revoke(*, api_key: ApiKey, actor: User) -> ApiKey:
    """Revoke *api_key* (effective from the next request); revoking a revoked key changes nothing."""
    if api_key.revoked_at is not None:
        return api_key
    now = timezone.now()
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now):
        _audit("api_key_revoked", "api key revoked", actor_id=actor.pk, api_key=api_key)
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


# The key of every key-authenticated request, with its owner, in one query compiled once (core.compiled_sql).
_KEY_BY_PREFIX = CompiledLookup(ApiKey, lambda prefix: ApiKey.objects.select_related("user").filter(prefix=prefix))


def api_key_authenticate(*, raw: str) -> ApiKey:
    """The key *raw* names, with its owner loaded, if it is well-formed, known, matching, unrevoked, unexpired and
    its owner active; else TokenNotValid (401 ``token_not_valid``) saying which. Records the use."""
    prefix = key_prefix(raw)
    if prefix is None:
        raise TokenNotValid("Malformed API key.")
    api_key = _KEY_BY_PREFIX.get(prefix)
    if api_key is None:
        raise TokenNotValid("Invalid API key.")
    if not key_matches(raw, api_key.digest):
        raise TokenNotValid("Invalid API key.")
    now = timezone.now()
    if api_key.revoked_at is not None:
        raise TokenNotValid("This API key has been revoked.")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise TokenNotValid("This API key has expired.")
    if not api_key.user.is_active:
        raise TokenNotValid("The owner of this API key is inactive.")
    _record_use(api_key, now)
    return api_key


def _record_use(api_key: ApiKey, now: datetime) -> None:
    """Write last_used_at when it is older than LAST_USED_RESOLUTION; the conditional UPDATE makes that (and the
    first-use audit event) happen once even when several processes see the key at the same moment."""
    previous = api_key.last_used_at
    if previous is not None and now - previous < LAST_USED_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    if ApiKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now):
        api_key.last_used_at = now
        if previous is None:
            _audit("api_key_first_use", "api key used for the first time", actor_id=api_key.user_id, api_key=api_key)
