"""Writes about users: creation (self-service and by an administrator)."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User


def _check_email_free(email: str) -> None:
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": ["A user with this email address already exists."]})


def _check_password(password: str, user: User, field: str = "password") -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str,
    full_name: str = "",
    is_active: bool = True,
    is_staff: bool = False,
    roles: Iterable[Group] = (),
) -> User:
    """Create a user after validating the password against Django's validators; the email must be free."""
    email = User.objects.normalize_email(email)
    _check_email_free(email)
    user = User(email=email, full_name=full_name, is_active=is_active, is_staff=is_staff)
    _check_password(password, user)
    user.set_password(password)
    user.save()
    user.groups.set(roles)
    return user
