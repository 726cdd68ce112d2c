"""Writes about roles (Django groups): create, rename, change permissions, delete. Superusers only, always audited."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import rbac
from accounts.models import User
from accounts.selectors import permission_code

audit = logging.getLogger("dashboard.audit")


def _check_name_free(name: str, exclude: Group | None = None) -> None:
    taken = Group.objects.filter(name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError({"name": ["A role with this name already exists."]})


def _codes(permissions: Iterable[Permission]) -> set[str]:
    return {permission_code(permission) for permission in permissions}


@transaction.atomic
def role_create(*, actor: User, name: str, permissions: Iterable[Permission] = ()) -> Group:
    rbac.check_roles_write(actor=actor)
    _check_name_free(name)
    permissions = list(permissions)
    role = Group.objects.create(name=name)
    role.permissions.set(permissions)
    audit.info(
        "role created",
        extra={
            "event": "role_created",
            "user_id": actor.pk,
            "role_id": role.pk,
            "role": role.name,
            "permissions": sorted(_codes(permissions)),
        },
    )
    return role


@transaction.atomic
def role_update(
    *, actor: User, role: Group, name: str | None = None, permissions: Iterable[Permission] | None = None
) -> Group:
    """Rename *role* and/or replace its permissions (None leaves either as it is)."""
    rbac.check_roles_write(actor=actor)
    changes: dict[str, object] = {}
    if name is not None and name != role.name:
        _check_name_free(name, exclude=role)
        changes["renamed_from"] = role.name
        role.name = name
        role.save(update_fields=["name"])
    if permissions is not None:
        permissions = list(permissions)
        before = _codes(role.permissions.select_related("content_type"))
        after = _codes(permissions)
        if before != after:
            role.permissions.set(permissions)
            changes["added"] = sorted(after - before)
            changes["removed"] = sorted(before - after)
    if changes:
        audit.info(
            "role updated",
            extra={"event": "role_updated", "user_id": actor.pk, "role_id": role.pk, "role": role.name, **changes},
        )
    return role


@transaction.atomic
def role_delete(*, actor: User, role: Group) -> None:
    """Delete *role*; its holders simply lose it."""
    rbac.check_roles_write(actor=actor)
    role_id, role_name, holders = role.pk, role.name, role.user_set.count()
    role.delete()
    audit.info(
        "role deleted",
        extra={"event": "role_deleted", "user_id": actor.pk, "role_id": role_id, "role": role_name, "holders": holders},
    )
