"""The rules of API keys: their format and digest, the one rule of their permissions, the routes they may reach, and
the hooks the user model and the authentication class call (creating and checking keys: ``accounts.services.api_keys``).

A key is ``dsh_<prefix>_<secret>``: ``prefix`` (12 hex characters) finds the row, ``secret`` (32 random bytes,
URL-safe base64) proves possession; the database keeps only the SHA-256 of the whole key. The ``dsh_`` marker lets
secret scanners recognise leaked keys and lets the authentication class tell keys from JWTs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import PermissionsMixin

    from accounts.models import ApiKey

    # What the mixin is mixed into (accounts.models.User), for its super() calls.
    class _UserBase(AbstractBaseUser, PermissionsMixin): ...

else:
    _UserBase = object

KEY_MARKER = "dsh_"
PREFIX_BYTES = 6
SECRET_BYTES = 32
_KEY_PATTERN = re.compile(r"^dsh_(?P<prefix>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
# Scopes may only name permissions of these apps: a key never administers users, roles or keys.
SCOPE_APP_LABELS = ("dashboard",)

# With a key only GET users/me answers among the account routes; every other users/me* route, auth/* and admin/*
# is a 403 (a key never creates keys, changes a password, enrols MFA or administers anything).
_KEY_DENIED_ROUTES = re.compile(r"^/api/v1/(?:auth|admin)(?:/|$)|^/api/v1/users/me/.")
_KEY_READ_ONLY_ROUTES = re.compile(r"^/api/v1/users/me/?$")


def bearer_api_key(authorization: str) -> str | None:
    """The credential of an ``Authorization: Bearer dsh_…`` header (well-formed or not), or None when the header
    carries something else (a JWT, another scheme, nothing)."""
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential.startswith(KEY_MARKER):
        return None
    return credential


def key_generate() -> tuple[str, str]:
    """A new ``(prefix, key)``; the key is shown once and never stored."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    return prefix, f"{KEY_MARKER}{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def key_prefix(raw: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    match = _KEY_PATTERN.match(raw)
    return match["prefix"] if match else None


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, digest: str) -> bool:
    """Constant-time comparison of *key*'s digest with a stored one."""
    return hmac.compare_digest(key_digest(key), digest)


def effective_permissions(*, scopes: Iterable[str], owner_permissions: Iterable[str]) -> frozenset[str]:
    """The one rule: a key may do what its scopes name *and* its owner may do now (``app.codename`` strings)."""
    return frozenset(scopes).intersection(owner_permissions)


def route_allows_api_key(*, method: str, path: str) -> bool:
    """Whether a request authenticated by a key may reach *path* at all (its scopes are checked afterwards)."""
    if _KEY_DENIED_ROUTES.match(path):
        return False
    if _KEY_READ_ONLY_ROUTES.match(path):
        return method in ("GET", "HEAD", "OPTIONS")
    return True


class ApiKeyScopedPermissionsMixin(_UserBase):
    """For the user model: while ``api_key`` is set (by the authentication class, on the user of this request only),
    every permission check answers with the key's effective set, superusers included.

    Visibility (which rows the caller sees) stays the owner's: ``VISIBILITY_PERMISSIONS`` are answered from the
    owner's own permissions, so a key sees exactly what its owner sees and does only what its scopes allow.
    """

    VISIBILITY_PERMISSIONS = frozenset({"dashboard.view_all_metrics"})
    api_key: ApiKey | None = None

    def _owner_permissions(self) -> set[str]:
        return super().get_all_permissions()

    def get_all_permissions(self, obj=None) -> set[str]:
        permissions = super().get_all_permissions(obj)
        if self.api_key is None:
            return permissions
        return set(effective_permissions(scopes=self.api_key.scopes, owner_permissions=permissions))

    def has_perm(self, perm: str, obj=None) -> bool:
        if self.api_key is None:
            return super().has_perm(perm, obj)
        if not self.is_active or obj is not None:
            return False
        if perm in self.VISIBILITY_PERMISSIONS:
            return perm in self._owner_permissions()
        return perm in self.get_all_permissions()

    def has_module_perms(self, app_label: str) -> bool:
        if self.api_key is None:
            return super().has_module_perms(app_label)
        return any(permission.startswith(f"{app_label}.") for permission in self.get_all_permissions())
