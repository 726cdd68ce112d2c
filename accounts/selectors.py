"""Reads about users: roles and effective permissions."""

from __future__ import annotations

from accounts.models import User


def user_role_names(*, user: User) -> list[str]:
    return sorted(group.name for group in user.groups.all())


def user_permission_names(*, user: User) -> list[str]:
    """The user's effective permissions as ``app.codename``, sorted (superusers get every permission)."""
    return sorted(user.get_all_permissions())
