"""Writes about users: creation (self-service and by an administrator), administrative changes and deletion.

With an ``actor`` the no-escalation rules of ``accounts.rbac`` apply (a 403 before any validation); without one the
caller is trusted (registration, management commands).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError

from accounts import rbac
from accounts.exceptions import UserOwnsData
from accounts.models import User
from accounts.services.passwords import password_validate

audit = logging.getLogger("dashboard.audit")


def _check_email_free(email: str, exclude: User | None = None) -> None:
    taken = User.objects.with_email(email)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError({"email": ["A user with this email address already exists."]})


def user_roles_changed_record(*, actor: User | None, user: User, before: Iterable[str], after: Iterable[str]) -> None:
    """Audit a change of *user*'s roles (names before and after); records nothing when they are the same."""
    before, after = set(before), set(after)
    if before == after:
        return
    audit.info(
        "user roles changed",
        extra={
            "event": "user_roles_changed",
            "user_id": getattr(actor, "pk", None),
            "target_id": user.pk,
            "added": sorted(after - before),
            "removed": sorted(before - after),
        },
    )


def _roles_set(*, user: User, roles: list[Group], actor: User | None) -> None:
    before = [role.name for role in user.groups.all()]
    user.groups.set(roles)
    user_roles_changed_record(actor=actor, user=user, before=before, after=[role.name for role in roles])


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str,
    full_name: str = "",
    is_active: bool = True,
    is_staff: bool = False,
    is_superuser: bool = False,
    roles: Iterable[Group] = (),
    actor: User | None = None,
) -> User:
    """Create a user after validating the password against Django's validators; the email must be free.

    With *actor*: only a superuser makes staff or superusers or grants privileged roles (else PermissionDenied).
    """
    roles = list(roles)
    if actor is not None:
        requested = [name for name, value in (("is_staff", is_staff), ("is_superuser", is_superuser)) if value]
        rbac.check_account_flags(actor=actor, fields=requested)
        rbac.check_roles_grant(actor=actor, roles=roles)
    email = User.objects.normalize_email(email)
    _check_email_free(email)
    user = User(email=email, full_name=full_name, is_active=is_active, is_staff=is_staff, is_superuser=is_superuser)
    password_validate(password=password, user=user)
    user.set_password(password)
    user.save()
    if actor is None:
        user.groups.set(roles)
        return user
    _roles_set(user=user, roles=roles, actor=actor)
    audit.info("user created", extra={"event": "user_created", "user_id": actor.pk, "target_id": user.pk})
    return user


def _check_update_allowed(
    *, actor: User, user: User, is_staff: bool | None, is_superuser: bool | None, roles: list[Group] | None
) -> None:
    """The no-escalation rules for *actor* changing *user* (PermissionDenied), checked before any validation."""
    rbac.check_user_change(actor=actor, target=user)
    requested = [name for name, value in (("is_staff", is_staff), ("is_superuser", is_superuser)) if value is not None]
    rbac.check_account_flags(actor=actor, fields=requested)
    if roles is not None:
        rbac.check_roles_grant(actor=actor, roles=roles)


def _changes_assign(*, user: User, email: str | None, password: str | None, fields: dict[str, object]) -> list[str]:
    """Set the given values on *user* without saving (None leaves a field as it is); returns the names of the fields
    that changed. The errors of every field (email taken, password refused) are raised together, as one
    ValidationError.

    The password is validated last, against the user with its new email and name (the similarity validator)."""
    changed: list[str] = []
    errors: dict[str, list[str]] = {}
    if email is not None:
        email = User.objects.normalize_email(email)
        if email != user.email:
            try:
                _check_email_free(email, exclude=user)
            except ValidationError as exc:
                errors.update(exc.message_dict)
            user.email = email
            changed.append("email")
    for field, value in fields.items():
        if value is not None and getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    if password is not None:
        try:
            password_validate(password=password, user=user)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        user.set_password(password)
        changed.append("password")
    if errors:
        raise ValidationError(errors)
    return changed


def user_update(
    *,
    user: User,
    actor: User | None = None,
    email: str | None = None,
    password: str | None = None,
    full_name: str | None = None,
    is_active: bool | None = None,
    is_staff: bool | None = None,
    is_superuser: bool | None = None,
    roles: Iterable[Group] | None = None,
) -> User:
    """Change the given fields of *user* (None leaves a field as it is) and return it.

    A new password is validated like at creation. A new password or a deactivation revokes every token of the user at
    once. With *actor*, the no-escalation rules apply before anything else.
    """
    roles = None if roles is None else list(roles)
    if actor is not None:
        _check_update_allowed(actor=actor, user=user, is_staff=is_staff, is_superuser=is_superuser, roles=roles)
    changed = _changes_assign(
        user=user,
        email=email,
        password=password,
        fields={"full_name": full_name, "is_active": is_active, "is_staff": is_staff, "is_superuser": is_superuser},
    )
    with transaction.atomic():
        if changed:
            user.save(update_fields=changed)
        if roles is not None:
            _roles_set(user=user, roles=roles, actor=actor)
    if actor is not None and changed:
        # Field names only: never a value (a password, a hash).
        audit.info(
            "user updated",
            extra={"event": "user_updated", "user_id": actor.pk, "target_id": user.pk, "fields": sorted(changed)},
        )
    return user


def user_delete(*, user: User, actor: User | None = None) -> None:
    """Delete *user*; when the deletion would remove or orphan protected data, raise UserOwnsData and delete nothing."""
    if actor is not None:
        rbac.check_user_change(actor=actor, target=user)
    target_id = user.pk
    try:
        with transaction.atomic():
            user.delete()
    except (ProtectedError, RestrictedError) as exc:
        raise UserOwnsData() from exc
    audit.info(
        "user deleted", extra={"event": "user_deleted", "user_id": getattr(actor, "pk", None), "target_id": target_id}
    )
