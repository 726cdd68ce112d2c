"""A user's access profile (roles, effective permissions, whether MFA is on), computed once per version and cached.

The profile lives in the shared cache under ``authz:<pk>:<authz_version>:<token_version>:<is_active><is_superuser>``,
all read from the user row that authentication loads anyway, so a request pays no query for it on a warm cache.
``User.authz_version`` is a *stamp*, not a counter: every change that can alter a profile (``accounts.signals``:
roles of a user, permissions of a role or a user, a role or permission renamed or deleted, an MFA device saved or
deleted) writes a fresh random 63-bit value in the same transaction as the change. A stamp is never reused, so neither
a rolled-back transaction nor a recreated database can bring an old cache entry back, and a process that reads the new
row computes (and caches) the new profile on its next request. ``is_active``, ``is_superuser`` and ``token_version``
are part of the key too, so even a ``QuerySet.update()`` of those, which sends no signal, is seen at once.

On a miss the stamp and flags are read again from the database *before* the permissions, and the entry is stored
under what was read: an entry never holds data older than its key.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db.models import CharField, Exists, F, OuterRef, Q, QuerySet, Value
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User, authz_stamp

# Entries of old stamps are never read again; they only wait to expire.
PROFILE_TIMEOUT_SECONDS = 24 * 3600
_KEY_FIELDS = ("pk", "authz_version", "token_version", "is_active", "is_superuser")


@dataclass(frozen=True)
class AccessProfile:
    roles: tuple[str, ...]
    permissions: frozenset[str]
    mfa_enabled: bool


# Profiles kept in each process in front of the shared cache. An entry never changes once written (its key names the
# stamp it was computed for), so a process-local copy is exactly as fresh as the shared one.
LOCAL_PROFILES_MAX = 2048
_local_profiles: dict[str, AccessProfile] = {}
_local_lock = threading.Lock()


def _key(values) -> str:
    pk, version, token_version, is_active, is_superuser = values
    return f"authz:{pk}:{version}:{token_version}:{int(is_active)}{int(is_superuser)}"


def _compute(user, *, mfa_enabled: bool | None = None) -> AccessProfile:
    """Roles and the permissions ModelBackend would answer (direct and through roles; every one for superusers):
    one query (a UNION of the roles with their permissions and the direct permissions), two for superusers."""
    if mfa_enabled is None:
        mfa_enabled = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()
    text = CharField()
    through_roles = Group.objects.filter(user=user.pk).annotate(
        r=F("name"), a=F("permissions__content_type__app_label"), c=F("permissions__codename")
    )
    direct = Permission.objects.filter(user=user.pk).annotate(
        r=Value(None, output_field=text), a=F("content_type__app_label"), c=F("codename")
    )
    # No ORDER BY (Permission's default ordering): SQLite refuses it inside a UNION.
    rows = (
        through_roles.order_by()
        .values_list("r", "a", "c")
        .union(direct.order_by().values_list("r", "a", "c"), all=True)
    )
    roles, permissions = set(), set()
    for role, app_label, codename in rows:
        if role is not None:
            roles.add(role)
        if codename is not None:
            permissions.add(f"{app_label}.{codename}")
    if user.is_superuser:
        pairs = set(Permission.objects.values_list("content_type__app_label", "codename"))
        permissions = {f"{app_label}.{codename}" for app_label, codename in pairs}
    return AccessProfile(
        roles=tuple(sorted(roles)),
        permissions=frozenset(permissions) if user.is_active else frozenset(),
        mfa_enabled=mfa_enabled,
    )


def access_profile(user) -> AccessProfile:
    """*user*'s profile: from the instance, else the cache, else the database (then cached). Not scoped by an API
    key: permission checks go through the user model (``accounts.api_key_rules.ApiKeyScopedPermissionsMixin``)."""
    if user.pk is None:
        return AccessProfile(roles=(), permissions=frozenset(), mfa_enabled=False)
    values = tuple(getattr(user, field) for field in _KEY_FIELDS)
    memo = user.__dict__.get("_access_profile")
    if memo is not None and memo[0] == values:
        return memo[1]
    key = _key(values)
    profile = _local_profiles.get(key)
    if profile is None:
        profile = cache.get(key)
        if profile is None:
            profile = _load(user, values)
        else:
            _local_remember(key, profile)
    user.__dict__["_access_profile"] = (values, profile)
    return profile


def _local_remember(key: str, profile: AccessProfile) -> None:
    with _local_lock:
        if len(_local_profiles) >= LOCAL_PROFILES_MAX:
            del _local_profiles[next(iter(_local_profiles))]  # the oldest
        _local_profiles[key] = profile


def local_profiles_clear() -> None:
    """Forget this process's copies (tests that need a cold cache)."""
    with _local_lock:
        _local_profiles.clear()


def _load(user, values) -> AccessProfile:
    model = type(user)
    confirmed_device = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    row = model.objects.filter(pk=user.pk).values_list(*_KEY_FIELDS, Exists(confirmed_device)).first()
    if row is None or row[3:5] != values[3:5]:
        # Deleted, or flags changed in memory and not saved: answer for the instance as it is, cache nothing.
        return _compute(user)
    stored, mfa_enabled = row[:5], row[5]
    profile = _compute(model(pk=stored[0], is_active=stored[3], is_superuser=stored[4]), mfa_enabled=mfa_enabled)
    key = _key(stored)
    cache.set(key, profile, PROFILE_TIMEOUT_SECONDS)
    _local_remember(key, profile)
    return profile


def authz_bump(users: QuerySet | Iterable[int]) -> None:
    """Give every user in *users* (a User queryset or ids) a new stamp; call it in the transaction of the change."""
    if not isinstance(users, QuerySet):
        User.objects.filter(pk__in=list(users)).update(authz_version=authz_stamp())
        return
    # Through a pk subquery: a queryset with joins (groups__…) cannot be updated directly.
    User.objects.using(users.db).filter(pk__in=users.values("pk")).update(authz_version=authz_stamp())


def holders_of_permissions(permission_ids: Iterable[int]) -> QuerySet:
    """Users whose profile shows any of these permissions: directly, through a role, or as superusers."""
    ids = list(permission_ids)
    return User.objects.filter(
        Q(user_permissions__in=ids) | Q(groups__permissions__in=ids) | Q(is_superuser=True)
    ).distinct()
