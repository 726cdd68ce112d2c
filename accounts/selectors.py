"""Reads about users, roles and permissions."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.authz import access_profile
from accounts.models import ApiKey, User


def user_role_names(*, user: User) -> list[str]:
    """Names of *user*'s roles, sorted: as ``users_with_role_names`` or a prefetch of ``groups`` loaded them for a
    list, else from the cached access profile."""
    loaded = user.__dict__.get("_role_names")
    if loaded is not None:
        return loaded
    prefetched = getattr(user, "_prefetched_objects_cache", {}).get("groups")
    if prefetched is not None:
        return sorted(group.name for group in prefetched)
    return list(access_profile(user).roles)


def user_permission_names(*, user: User) -> list[str]:
    """The user's effective permissions as ``app.codename``, sorted (superusers get every permission). Through the
    user model, so that with an API key they are the key's scopes ∩ the owner's current permissions."""
    return sorted(user.get_all_permissions())


def user_mfa_enabled(*, user: User) -> bool:
    """Whether *user* has a confirmed TOTP device, from the cached access profile."""
    return access_profile(user).mfa_enabled


def users_list(*, search: str = "", is_active: bool | None = None, role: str = "") -> QuerySet[User]:
    """Users for administration, newest first (``users_with_role_names`` loads the roles of a page).

    *search* matches email or full name (case-insensitive substring); *role* is a role name, matched exactly.
    """
    users = User.objects.order_by("-date_joined", "-id")
    if search:
        users = users.filter(Q(email__icontains=search) | Q(full_name__icontains=search))
    if is_active is not None:
        users = users.filter(is_active=is_active)
    if role:
        users = users.filter(groups__name=role)
    return users


def users_with_role_names(users: Iterable[User]) -> list[User]:
    """*users* with their role names loaded, in one query for any number (read by ``user_role_names``).

    Cheaper than ``prefetch_related("groups")``, which bench/bench_api.py showed building a related manager and a
    queryset per user: only the names are needed.
    """
    users = list(users)
    names: dict[int, list[str]] = {user.pk: [] for user in users}
    memberships = User.groups.through.objects.filter(user_id__in=list(names)).values_list("user_id", "group__name")
    for user_id, name in memberships:
        names[user_id].append(name)
    for user in users:
        user.__dict__["_role_names"] = sorted(names[user.pk])
    return users


def users_visible_to(*, user: User) -> QuerySet[User]:
    """The users *user* may see in administration: every user with ``accounts.view_user``, else none."""
    return users_list() if user.has_perm("accounts.view_user") else User.objects.none()


def permission_code(permission: Permission) -> str:
    """``app_label.codename``, the form the API, ``has_perm`` and the roles' payloads use."""
    return f"{permission.content_type.app_label}.{permission.codename}"


def roles_list() -> QuerySet[Group]:
    """Roles by name, each with its permissions (and their apps) prefetched."""
    permissions = Permission.objects.select_related("content_type")
    return Group.objects.prefetch_related(Prefetch("permissions", queryset=permissions)).order_by("name")


def roles_visible_to(*, user: User) -> QuerySet[Group]:
    """The roles *user* may see: every role with ``auth.view_group``, else none."""
    return roles_list() if user.has_perm("auth.view_group") else Group.objects.none()


def role_permission_codes(*, role: Group) -> list[str]:
    return sorted(permission_code(permission) for permission in role.permissions.all())


def roles_by_names(*, names: Iterable[str]) -> tuple[list[Group], list[str]]:
    """The roles named in *names* (each once) and, in order, the names that match no role."""
    wanted = list(dict.fromkeys(names))
    found = {role.name: role for role in Group.objects.filter(name__in=wanted)}
    return [found[name] for name in wanted if name in found], [name for name in wanted if name not in found]


def permissions_list() -> list[Permission]:
    """Every permission (all are assignable), sorted by ``app_label.codename``.

    Sorted in Python: a database collation may order the dotted code differently.
    """
    return sorted(Permission.objects.select_related("content_type"), key=permission_code)


def permissions_by_codes(*, codes: Iterable[str]) -> tuple[list[Permission], list[str]]:
    """The permissions named by *codes* (``app_label.codename``) and, in order, the codes that match none."""
    wanted = list(dict.fromkeys(codes))
    lookup = Q(pk__in=[])
    for code in wanted:
        app_label, _, codename = code.partition(".")
        if app_label and codename:
            lookup |= Q(content_type__app_label=app_label, codename=codename)
    found = {permission_code(p): p for p in Permission.objects.select_related("content_type").filter(lookup)}
    return [found[code] for code in wanted if code in found], [code for code in wanted if code not in found]


def api_keys_of(*, user: User) -> QuerySet[ApiKey]:
    """*user*'s own keys, revoked and expired ones included, newest first."""
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")


def api_keys_list(*, user_id: int | None = None, active: bool | None = None) -> QuerySet[ApiKey]:
    """Every key for administration, newest first. *active*: keys that would authenticate now (not revoked, not
    expired, owner active) or, when false, the others."""
    keys = ApiKey.objects.order_by("-created_at", "-id")
    if user_id is not None:
        keys = keys.filter(user_id=user_id)
    if active is not None:
        usable = Q(revoked_at__isnull=True, user__is_active=True) & (
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )
        keys = keys.filter(usable) if active else keys.exclude(usable)
    return keys


def api_keys_visible_to(*, user: User) -> QuerySet[ApiKey]:
    """The keys *user* may see in administration: all with ``accounts.view_apikey``, else none."""
    return api_keys_list() if user.has_perm("accounts.view_apikey") else ApiKey.objects.none()
