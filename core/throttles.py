"""Throttles: the auth endpoints per client address and per account, uploads per user; in the shared cache."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Protocol, cast

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

    from accounts.models import ApiKey

audit = logging.getLogger("dashboard.audit")


def _configured_rate(scope: str | None) -> str | None:
    """``DEFAULT_THROTTLE_RATES[scope]`` from the live settings (``"100/min"``; None: not throttled)."""
    # djangorestframework-stubs types these values as float | int | None; DRF's rates are "N/period" strings.
    rates = cast("dict[str | None, str | None]", api_settings.DEFAULT_THROTTLE_RATES)
    return rates.get(scope)


class AccountThrottledView(Protocol):
    """A view that lists :class:`AccountThrottle`: it names the account a request is for."""

    def throttle_account(self, request: Request) -> str | None: ...


class _ScopedThrottle(SimpleRateThrottle):
    """Takes its scope from ``view.throttle_scope`` and its rate from the live settings (THROTTLE_* variables)."""

    kind = ""

    def __init__(self) -> None:
        # The scope is only known per view, in allow_request.
        pass

    def get_rate(self) -> str | None:
        return _configured_rate(self.scope)

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.scope = getattr(view, "throttle_scope", None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        allowed = super().allow_request(request, view)
        if not allowed:
            user = getattr(request, "user", None)
            audit.warning(
                "request throttled",
                extra={
                    "event": "throttled",
                    "scope": self.scope,
                    "by": self.kind,
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                },
            )
        return allowed


class ClientAddressThrottle(_ScopedThrottle):
    """Counts per client address; DRF's ``get_ident`` trusts X-Forwarded-For only as far as NUM_PROXIES says."""

    kind = "address"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": "addr:" + self.get_ident(request)}


class AccountThrottle(_ScopedThrottle):
    """Counts per account (``view.throttle_account(request)``): slows guessing one account from many addresses.

    The window is the rate's own period (a minute by default), so the owner is never locked out for long.
    """

    kind = "account"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        account = cast("AccountThrottledView", view).throttle_account(request)
        if not account:
            return None
        digest = hashlib.sha256(str(account).encode()).hexdigest()[:40]
        return self.cache_format % {"scope": self.scope, "ident": "acct:" + digest}


class UserThrottle(_ScopedThrottle):
    """Counts per authenticated user (an API key counts for its owner): ``THROTTLE_UPLOAD`` on ``dashboard/upload``."""

    kind = "user"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"user:{user.pk}"}


# INCR, and on the window's first request EXPIRE, atomically in one round trip (no counter is ever left without
# its expiry, whatever happens to the process between the two).
_COUNT_IN_WINDOW = (
    "local count = redis.call('INCR', KEYS[1]) "
    "if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return count"
)


class ApiKeyThrottle(SimpleRateThrottle):
    """Per API key, ``THROTTLE_API_KEY`` (default ``6000/min``): a fixed-window counter in the shared cache.

    A counter (one Redis round trip per request) rather than DRF's list of timestamps, which at thousands per minute
    would be read and rewritten whole on every request. Called by the authentication class, so it covers every
    route a key reaches whatever the view's own throttles.
    """

    scope = "api_key"

    def __init__(self) -> None:
        # The backend itself (``django.core.cache.cache`` is a proxy), so that _count can tell Redis apart.
        self.cache = caches[DEFAULT_CACHE_ALIAS]
        self.rate = _configured_rate(self.scope)
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def allow_request(self, request: Request | None, view: ApiKey) -> bool:  # type: ignore[override]  # gets a key, not a view
        """*view* is the ApiKey being used (the throttle runs during authentication, before any view); *request* is
        not read."""
        if self.rate is None or self.num_requests is None or self.duration is None:  # parse_rate: all None or none
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        key = self.cache_format % {"scope": self.scope, "ident": f"{view.pk}:{window}"}
        if self._count(key, timeout=self.duration + 1) <= self.num_requests:
            return True
        audit.warning(
            "request throttled",
            extra={"event": "throttled", "scope": self.scope, "by": "api_key", "user_id": view.user_id},
        )
        return False

    def _count(self, key: str, *, timeout: int) -> int:
        """This request's number in the window: on Redis one round trip (a script: INCR, EXPIRE when new), else
        Django's ``add``/``incr``. Django's Redis backend stores ints unpickled, so both agree on the value.
        *timeout* is the window plus a second."""
        if isinstance(self.cache, RedisCache):
            full_key = self.cache.make_and_validate_key(key)
            count: int = self.cache._cache.get_client(full_key, write=True).eval(_COUNT_IN_WINDOW, 1, full_key, timeout)
            return count
        if self.cache.add(key, 1, timeout=timeout):
            return 1
        try:
            return self.cache.incr(key)
        except ValueError:  # expired between add and incr
            self.cache.set(key, 1, timeout=timeout)
            return 1

    def wait(self) -> float:
        return max(self.window_end - self.now, 1)
