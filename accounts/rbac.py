"""The no-escalation rules, in one place: the API's permissions, the services and the Django admin all ask here.

A role is *privileged* when any of its permissions belongs to an app in ``PRIVILEGED_APP_LABELS`` (whatever its
name). Only active superusers grant or revoke ``is_staff``/``is_superuser``, write roles or grant privileged roles.
Anyone else with user rights may change only *ordinary* users: not staff, not superusers, not holders of a privileged
role (or of a privileged permission granted directly), and not themselves.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from accounts.models import User

PRIVILEGED_APP_LABELS = ("accounts", "auth")
ACCOUNT_FLAG_FIELDS = frozenset({"is_staff", "is_superuser"})


def is_superuser(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_superuser)


def roles_privileged() -> QuerySet[Group]:
    return Group.objects.filter(permissions__content_type__app_label__in=PRIVILEGED_APP_LABELS).distinct()


def roles_ordinary() -> QuerySet[Group]:
    return Group.objects.exclude(pk__in=roles_privileged().values("pk"))


def permission_is_privileged(permission: Permission) -> bool:
    return permission.content_type.app_label in PRIVILEGED_APP_LABELS


def roles_include_privileged(roles: Iterable[Group]) -> bool:
    role_ids = [role.pk for role in roles]
    return bool(role_ids) and roles_privileged().filter(pk__in=role_ids).exists()


def user_is_privileged(user: User) -> bool:
    """Staff, superuser, or holding a privileged permission through a role or directly."""
    if user.is_staff or user.is_superuser:
        return True
    if user.groups.filter(permissions__content_type__app_label__in=PRIVILEGED_APP_LABELS).exists():
        return True
    return user.user_permissions.filter(content_type__app_label__in=PRIVILEGED_APP_LABELS).exists()


def may_change_user(*, actor: User, target: User) -> bool:
    """Whether *actor* may change or delete *target* (their model permissions are checked elsewhere)."""
    if is_superuser(actor):
        return True
    return actor.pk != target.pk and not user_is_privileged(target)


def may_set_account_flags(*, actor: User) -> bool:
    return is_superuser(actor)


def may_write_roles(*, actor: User) -> bool:
    return is_superuser(actor)


def may_grant_roles(*, actor: User, roles: Iterable[Group]) -> bool:
    return is_superuser(actor) or not roles_include_privileged(roles)


def check_user_change(*, actor: User, target: User) -> None:
    if not may_change_user(actor=actor, target=target):
        raise PermissionDenied(
            "Only superusers may change staff, superusers or holders of privileged roles; "
            "your own account is changed through users/me."
        )


def check_account_flags(*, actor: User, fields: Iterable[str]) -> None:
    """*fields* are the names the caller asked to set; any account flag among them needs a superuser."""
    if ACCOUNT_FLAG_FIELDS.intersection(fields) and not may_set_account_flags(actor=actor):
        raise PermissionDenied("Only superusers may set is_staff or is_superuser.")


def check_roles_grant(*, actor: User, roles: Iterable[Group]) -> None:
    if not may_grant_roles(actor=actor, roles=roles):
        raise PermissionDenied("Only superusers may grant privileged roles.")


def check_roles_write(*, actor: User) -> None:
    if not may_write_roles(actor=actor):
        raise PermissionDenied("Only superusers may create, change or delete roles.")
