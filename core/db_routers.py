"""Read replicas: the read-only dashboard selectors read from ``replica`` (``DATABASE_REPLICA_URL``), everything else
uses the primary, and a user who just wrote reads the primary for ``DATABASE_REPLICA_PIN_SECONDS`` (read-your-writes).

The pin is a key in the shared cache per user id, so it holds across processes and hosts behind a load balancer.
Only the selectors wrapped in :func:`replica_reads` (and querysets bound with :func:`read_alias`), during an HTTP
request (:class:`core.middleware.ReadYourWritesMiddleware`), ever read the replica: authentication, permission
checks, detail lookups before a write, background jobs (imports, alert evaluation) and every write use the primary.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model

REPLICA = "replica"
PIN_KEY = "db-pin:user:{}"
_reading: ContextVar[str | None] = ContextVar("dashboard_read_alias", default=None)
_in_request: ContextVar[bool] = ContextVar("dashboard_replica_allowed", default=False)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def pin_to_primary(user_id: int) -> None:
    """After a write by *user_id*: their reads go to the primary until the replica has surely caught up."""
    if replica_configured():
        cache.set(PIN_KEY.format(user_id), 1, timeout=settings.DATABASE_REPLICA_PIN_SECONDS)


def pinned_to_primary(user_id: int | None) -> bool:
    return user_id is not None and cache.get(PIN_KEY.format(user_id)) is not None


def read_alias(user: object) -> str:
    """The database *user*'s dashboard reads should use: the replica during a request, unless there is none or the
    user just wrote."""
    if not _in_request.get() or not replica_configured() or pinned_to_primary(getattr(user, "pk", None)):
        return DEFAULT_DB_ALIAS
    return REPLICA


@contextmanager
def replica_allowed() -> Iterator[None]:
    """Around an HTTP request: its read-only selectors may use the replica."""
    token = _in_request.set(True)
    try:
        yield
    finally:
        _in_request.reset(token)


@contextmanager
def reading_from(alias: str) -> Iterator[None]:
    token = _reading.set(alias)
    try:
        yield
    finally:
        _reading.reset(token)


def replica_reads(selector: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a read-only selector (called with ``user=``) against :func:`read_alias` of its user."""

    @functools.wraps(selector)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with reading_from(read_alias(kwargs.get("user"))):
            return selector(*args, **kwargs)

    return wrapper


class PrimaryReplicaRouter:
    """Reads inside :func:`reading_from` go to its alias; everything else, and every write, to the primary."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return _reading.get()

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        # The replica is a physical copy of the primary: migrations run on the primary only.
        return db != REPLICA
